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

from django.db.models import QuerySet

from jobs.forms import PARAM_GROUPS
from jobs.lineage import visible_models
from jobs.models import Dataset, ModelAsset, Team
from jobs.presets import DEFAULT_PRESET, PRESETS
from trainers import catalogue


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    description: str
    tasks: tuple[str, ...]
    unavailable: str = ""  # why it cannot be chosen yet, in the user's terms

    @property
    def available(self) -> bool:
        return not self.unavailable


def trainable_tasks() -> set[str]:
    """Dataset tasks some training method of the catalogue learns from."""
    return {task for method in catalogue.methods("train") for task in method.dataset_tasks}


GOAL_TEXTS = (
    (
        "chat",
        "Chat assistant",
        "Answer questions and follow instructions in your style, from example "
        "conversations or instruction/answer pairs.",
        ("instruction", "chat"),
    ),
    (
        "domain",
        "Domain adaptation",
        "Learn the vocabulary and style of your documents from plain text, "
        "before or instead of instruction tuning.",
        ("text",),
    ),
    (
        "classifier",
        "Classifier",
        "Put texts into your categories, from texts with labels.",
        ("classification",),
    ),
    (
        "preference",
        "Preference alignment",
        "Prefer better answers over worse ones, from prompts with a chosen and a rejected answer.",
        ("preference",),
    ),
)


def goals() -> list[Goal]:
    trainable = trainable_tasks()
    found = []
    for key, title, description, tasks in GOAL_TEXTS:
        why = ""
        if not trainable & set(tasks):
            why = (
                f"Not available yet: Hone trains language models on {', '.join(sorted(trainable))} data; "
                f"training on {' or '.join(tasks)} data is still to come. You can already upload such data, "
                "and evaluate classifiers."
            )
        found.append(Goal(key, title, description, tasks, why))
    return found


def goal_named(key: str) -> Goal | None:
    return next((g for g in goals() if g.key == key and g.available), None)


ADVANCED = tuple(name for _title, _model, names in PARAM_GROUPS.values() for name in names)


@dataclass
class State:
    """The choices so far, as they travel in the query string."""

    goal: str = ""
    dataset: str = ""
    model: str = ""
    preset: str = DEFAULT_PRESET
    max_length: str = ""
    advanced: dict[str, str] = field(default_factory=dict)

    KEYS = ("goal", "dataset", "model", "preset", "max_length")

    @classmethod
    def from_query(cls, query: Mapping) -> State:
        values = {key: str(query.get(key, "")).strip()[:40] for key in cls.KEYS}
        values["preset"] = values["preset"] if values["preset"] in PRESETS else DEFAULT_PRESET
        advanced = {name: str(query.get(name, "")).strip()[:40] for name in ADVANCED if query.get(name)}
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


def trainable_models(team: Team) -> QuerySet[ModelAsset]:
    """Full-precision language models in Hugging Face format: what LoRA training starts from."""
    return (
        visible_models(team)
        .filter(task=ModelAsset.Task.CAUSAL_LM, format=ModelAsset.Format.TRANSFORMERS, quantization="")
        .order_by("team_id", "name")
    )


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
        found.model = trainable_models(team).filter(pk=as_id(state.model)).first()
        if found.model is None:
            return Choices(
                goal=found.goal, dataset=found.dataset, missing="model", problem="Choose a base model."
            )
    return found


def as_id(value: str) -> int:
    """A record id from the query string; 0 (matches nothing) for anything else."""
    return int(value) if value.isdigit() and len(value) < 10 else 0
