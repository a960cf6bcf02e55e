"""Before a grpo job: the base model answers a few of the user's prompts and each answer is scored
with the chosen rewards, so the user sees the reward it starts from and that the rewards work.

It runs in the web process through the playground's model cache (``jobs.playground.generation``: one
generation per model at a time, a time limit, bounded prompts), only when the user asks, and it is
bounded: ``PROMPTS`` prompts, at most ``MAX_NEW_TOKENS`` tokens each, greedy, a model of at most
``MAX_PARAMETERS``. A larger model is refused with the reason: loading billions of weights into a web
worker would stall it for everyone, and the job itself measures the same thing before its first
step (held-out accuracy and reward at step 0) on the compute it was given. A background task would
cost a queue slot and a model load on a trainer for three short answers, and the user would wait as
long for it as for the job's own step-0 numbers; the bounded run here answers in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.data import preview
from jobs.launch import reward_models as reward_model_checks
from jobs.models import Dataset, ModelAsset, Team
from jobs.playground import generation
from trainers.objectives import grpo_data
from trainers.rewards import registry as rewards

PROMPTS = 3
MAX_NEW_TOKENS = 32
MAX_PARAMETERS = 1_000_000_000  # about 4 GB of fp32 weights in the web process, as the playground holds


@dataclass(frozen=True)
class Scored:
    prompt: str
    answer: str
    expected: str
    total: float
    each: dict[str, float]


@dataclass
class RewardPreview:
    rows: list[Scored] = field(default_factory=list)
    refused: str = ""  # why it did not run, in the user's terms
    max_new_tokens: int = MAX_NEW_TOKENS

    @property
    def mean(self) -> float | None:
        return sum(r.total for r in self.rows) / len(self.rows) if self.rows else None


def too_big(model: ModelAsset) -> str:
    count = model.parameter_count
    if count and count > MAX_PARAMETERS:
        return (
            f"{model.name} has {count / 1e9:.1f} billion parameters, too many to run in the web server "
            f"(at most {MAX_PARAMETERS / 1e9:.0f} billion here). The job measures the base model's reward "
            "and accuracy on held-out prompts before its first step: watch them on the job page."
        )
    return ""


def run(model: ModelAsset, dataset: Dataset, choices: list[dict], completion_tokens: int) -> RewardPreview:
    """The first ``PROMPTS`` rows of ``dataset`` answered by ``model`` and scored with ``choices``."""
    budget = min(MAX_NEW_TOKENS, completion_tokens)
    chosen = [rewards.RewardChoice.model_validate(c) for c in choices]
    models, refused = reward_models(dataset.team, chosen)
    refused = too_big(model) or refused
    if refused:
        return RewardPreview(refused=refused, max_new_tokens=budget)
    try:
        tasks = [grpo_data.task_of(row, dataset.task) for row in preview.read_rows(dataset, PROMPTS)]
        loaded = generation.load(model)
        answers = [_answer(loaded, task, budget) for task in tasks]
        scored = rewards.totals(chosen, answers, [t.answer for t in tasks], models, [t.prompt for t in tasks])
    except (preview.PreviewUnavailable, generation.PlaygroundError) as exc:
        return RewardPreview(refused=f"The preview could not run: {exc}", max_new_tokens=budget)
    rows = [
        Scored(_shown(task), answer, task.answer, round(total, 4), each)
        for task, answer, (total, each) in zip(tasks, answers, scored, strict=True)
    ]
    return RewardPreview(rows=rows, max_new_tokens=budget)


def reward_models(team: Team, chosen: list[rewards.RewardChoice]) -> tuple[dict[str, str], str]:
    """The directories of the classifiers the rewards name, found in the team's scope, and why the
    preview cannot use one (as the launch would refuse it, or too big for the web server), or ''."""
    ids = rewards.reward_model_ids(chosen)
    found = {m.pk: m for m in ModelAsset.objects.visible_to(team).filter(pk__in=ids)}
    for choice in chosen:
        if choice.name != "classifier":
            continue
        model = found.get(choice.params["model"])
        if model is None:
            return {}, f"The check's classifier (model {choice.params['model']}) was not found."
        if unfit := reward_model_checks.why_unfit(model, choice.params["label"]):
            return {}, f"The check cannot run: {unfit[1]}."
        if why := too_big(model):
            return {}, why
    return {str(pk): m.path for pk, m in found.items()}, ""


def _answer(loaded: generation.Loaded, task: grpo_data.Task, budget: int) -> str:
    """One prompt answered greedily, as the job's held-out check answers: the whole chat, system and
    earlier turns included, rendered with the model's chat template."""
    settings = generation.Settings(mode="chat", prompt="", messages=tuple(task.prompt), max_new_tokens=budget)
    return generation.run(loaded, settings)[0]


def _shown(task: grpo_data.Task) -> str:
    """The prompt as the table shows it: its last user turn."""
    return next((m["content"] for m in reversed(task.prompt) if m["role"] == "user"), "")
