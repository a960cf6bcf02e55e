"""The guided new job: goal → data → base model → method → review, state in the query string.

Every step is a plain GET form carrying the earlier choices as hidden fields, so the back
button, a refresh or a bookmark never loses anything, nothing is kept on the server until
launch, and it all works without JavaScript. Each step re-checks what it depends on and
sends the user back to the first step whose choice is missing or no longer valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Case, Count, QuerySet, When

from jobs.guided import params, team_options
from jobs.guided.presets import DEFAULT_PRESET, PRESETS
from jobs.models import Dataset, ModelAsset, Team
from trainers import catalogue


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    description: str
    objectives: tuple[str, ...]  # the first is the default; the rest are offered as choices
    model_tasks: tuple[str, ...]  # which base models can learn it (ModelAsset.task)
    unavailable: str = ""  # why it cannot be chosen, in the user's terms

    @property
    def available(self) -> bool:
        return not self.unavailable

    @property
    def tasks(self) -> tuple[str, ...]:
        """The dataset tasks it learns from (those of its default objective)."""
        return GOAL_TASKS.get(self.key) or catalogue.objective_tasks(self.objectives[0])

    def objective(self, chosen: str) -> str:
        return chosen if chosen in self.objectives else self.objectives[0]


LM = (ModelAsset.Task.CAUSAL_LM,)
GOAL_TEXTS = (
    (
        "chat",
        "Chat assistant",
        "Answer questions and follow instructions in your style, from example "
        "conversations or instruction/answer pairs.",
        ("sft",),
        LM,
    ),
    (
        "classifier",
        "Classifier",
        "Put texts into your categories, from texts with labels: a classification head on an "
        "encoder (like MiniLM) or a language model.",
        ("classification",),
        (ModelAsset.Task.CLASSIFICATION, ModelAsset.Task.CAUSAL_LM),
    ),
    (
        "domain",
        "Domain adaptation",
        "Learn the vocabulary and style of your documents from plain text (continued pre-training), "
        "before or instead of instruction tuning.",
        ("pretrain",),
        LM,
    ),
    (
        "preference",
        "Preference alignment",
        "Prefer better answers over worse ones, from prompts with a chosen and a rejected answer.",
        ("dpo", "orpo", "simpo", "kto"),
        LM,
    ),
    (
        "checkable",
        "Solve checkable tasks",
        "Teach it to solve tasks whose answers can be checked (sums, quizzes, conversions): it tries "
        "several answers per prompt and learns from those the check you pick marks right (GRPO).",
        ("grpo",),
        LM,
    ),
)
# sft also reads plain text, but the chat goal asks for conversations or instructions.
GOAL_TASKS = {"chat": ("instruction", "chat")}
OBJECTIVE_HELP = {
    "dpo": "DPO: learns from each pair against a frozen copy of the model; the well-tried default.",
    "orpo": "ORPO: instruction tuning and preference in one step, no reference model; from a base model.",
    "simpo": "SimPO: a length-normalised reward with a margin, no reference model; less memory than DPO.",
    "kto": "KTO: learns from answers marked good or bad one at a time; robust to noisy pairs.",
}


REWARDS_FIELD = "grpo__rewards"  # the advanced setting the checkable goal's check fills
# The checks a "checkable tasks" goal offers, in plain words (``grpo.rewards``, as the advanced field
# takes them: names with weights); the first is the default. Experts combine others in the settings.
REWARD_CHOICES = (
    ("exact_match", "The answer is the expected text (case, punctuation and spaces aside)."),
    ("math", "The answer is the same number or expression (0.5, 1/2 and \\frac{1}{2} are equal)."),
    ("multiple_choice", "The answer is the right option letter (A, B, C …)."),
    ("contains", "The answer contains the expected text somewhere."),
    (
        "math, format:0.2",
        "The same number or expression, and a bonus for showing its reasoning "
        "in <think>…</think> before the <answer>…</answer>.",
    ),
)


# A team's classifiers offered as checks (each of their labels), at most these many of each.
MAX_CLASSIFIERS, MAX_LABELS = 8, 6


def reward_choices(team: Team) -> list[tuple[str, str]]:
    """The checks of ``REWARD_CHOICES``, then one per label of each classifier the team may use as a
    reward model (``classifier=<id>/<label>``: the reward is its probability of that label)."""
    from trainers.rewards.classifier import ClassifierError, labels_of

    found = list(REWARD_CHOICES)
    classifiers = ModelAsset.objects.visible_to(team).filter(
        task=ModelAsset.Task.CLASSIFICATION, format=ModelAsset.Format.TRANSFORMERS
    ).exclude(path="")
    for model in classifiers[:MAX_CLASSIFIERS]:
        try:
            labels = labels_of(model.path)
        except ClassifierError:
            continue  # files gone or unreadable: the launch would refuse it
        found += [
            (f"classifier={model.pk}/{label}",
             f"Your classifier “{model.name}” says “{label}”: the reward is how sure it is (it reads the "
             "answer alone, not the expected one).")
            for label in labels[:MAX_LABELS]
        ]  # fmt: skip
    return found


def reward_choice(given: str, choices: list[tuple[str, str]] | tuple = REWARD_CHOICES) -> str:
    """The chosen check, as the ``grpo__rewards`` field carries it; the default where none fits."""
    return given if given in dict(choices) else choices[0][0]


def trainable_objectives() -> set[str]:
    """Objectives some training method of the catalogue trains."""
    return {name for method in catalogue.methods("train") for name in method.objectives}


def goals() -> list[Goal]:
    trainable = trainable_objectives()
    found = []
    for key, title, description, objectives, model_tasks in GOAL_TEXTS:
        offered = tuple(o for o in objectives if o in trainable)
        why = "" if offered else "Not available: no training method of this installation trains it."
        found.append(Goal(key, title, description, offered or objectives, model_tasks, why))
    return found


def goal_named(key: str) -> Goal | None:
    return next((g for g in goals() if g.key == key and g.available), None)


@dataclass
class State:
    """The choices so far, as they travel in the query string."""

    goal: str = ""
    objective: str = ""
    dataset: str = ""
    model: str = ""
    preset: str = DEFAULT_PRESET
    method: str = ""  # blank: the preset's choice
    max_length: str = ""
    advanced: dict[str, str] = field(default_factory=dict)

    KEYS = ("goal", "objective", "dataset", "model", "preset", "method", "max_length")

    @classmethod
    def from_query(cls, query: Mapping) -> State:
        values = {key: str(query.get(key, "")).strip()[:40] for key in cls.KEYS}
        known = values["preset"] in PRESETS or team_options.is_team_key(values["preset"])
        values["preset"] = values["preset"] if known else DEFAULT_PRESET  # a team's: checked by its team
        values["method"] = values["method"] if values["method"] in catalogue.METHODS else ""
        advanced = {
            name: str(query.get(name, "")).strip()[:200] for name in params.names() if query.get(name)
        }
        if values["goal"] != "checkable":  # the goal page's check travels with every goal's form
            advanced.pop(REWARDS_FIELD, None)
        return cls(**values, advanced=advanced)

    def items(self, *, without: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        pairs = [(key, getattr(self, key)) for key in self.KEYS if getattr(self, key)]
        pairs += list(self.advanced.items())
        return [(key, value) for key, value in pairs if key not in without]

    def query(self, **changes: str) -> str:
        pairs = dict(self.items()) | {k: v for k, v in changes.items() if v is not None}
        return urlencode({k: v for k, v in pairs.items() if v})


STEPS = (
    ("goal", "Goal", "jobs:wizard_goal"),
    ("data", "Data", "jobs:wizard_data"),
    ("model", "Base model", "jobs:wizard_model"),
    ("method", "Method", "jobs:wizard_method"),
    ("review", "Review", "jobs:wizard_review"),
)


def datasets_for(team: Team, goal: Goal) -> QuerySet[Dataset]:
    return team.datasets.filter(task__in=goal.tasks)


def hidden_datasets(team: Team, goal: Goal) -> list[tuple[str, int]]:
    """(task, how many) of the team's datasets that the goal cannot learn from."""
    rows = team.datasets.exclude(task__in=goal.tasks).values("task").annotate(n=Count("id")).order_by("task")
    return [(row["task"], row["n"]) for row in rows]


def trainable_models(team: Team, goal: Goal | None = None) -> QuerySet[ModelAsset]:
    """Full-precision models in Hugging Face format the goal can start from; encoders first for a
    classifier (small and made for it), then by name."""
    tasks = goal.model_tasks if goal else LM
    models = ModelAsset.objects.visible_to(team).filter(
        task__in=tasks, format=ModelAsset.Format.TRANSFORMERS, quantization=""
    )
    if goal and ModelAsset.Task.CLASSIFICATION in tasks:
        encoders_first = Case(When(task=ModelAsset.Task.CLASSIFICATION, then=0), default=1)
        return models.order_by(encoders_first, "team_id", "name")
    return models.order_by("team_id", "name")


@dataclass
class Choices:
    """The state's ids resolved to this team's records; ``missing`` names the first step to redo."""

    goal: Goal | None = None
    dataset: Dataset | None = None
    model: ModelAsset | None = None
    missing: str = ""
    problem: str = ""


def resolve(state: State, team: Team, *, need: str) -> Choices:
    """Look up the choices up to the step ``need`` ("data", "model", "method", "review")."""
    order = [key for key, _title, _url in STEPS]
    needed = order[: order.index(need)]
    found = Choices(goal=goal_named(state.goal))
    if found.goal is None:
        return Choices(
            missing="goal", problem="Choose what you want the model to do first." if state.goal else ""
        )
    if "data" in needed:
        found.dataset = datasets_for(team, found.goal).filter(pk=as_id(state.dataset)).first()
        if found.dataset is None:
            return Choices(goal=found.goal, missing="data", problem="Choose a dataset that fits the goal.")
    if "model" in needed:
        found.model = trainable_models(team, found.goal).filter(pk=as_id(state.model)).first()
        if found.model is None:
            return Choices(
                goal=found.goal, dataset=found.dataset, missing="model", problem="Choose a base model."
            )
    return found


def as_id(value: str) -> int:
    """A record id from the query string; 0 (matches nothing) for anything else."""
    return int(value) if value.isdigit() and len(value) < 10 else 0
