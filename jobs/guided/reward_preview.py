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
from jobs.models import Dataset, ModelAsset
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
    refused = too_big(model)
    if refused:
        return RewardPreview(refused=refused, max_new_tokens=budget)
    chosen = [rewards.RewardChoice.model_validate(c) for c in choices]
    try:
        tasks = [grpo_data.task_of(row, dataset.task) for row in preview.read_rows(dataset, PROMPTS)]
        loaded = generation.load(model)
        rows = [_scored(loaded, task, chosen, budget) for task in tasks]
    except (preview.PreviewUnavailable, generation.PlaygroundError) as exc:
        return RewardPreview(refused=f"The preview could not run: {exc}", max_new_tokens=budget)
    return RewardPreview(rows=rows, max_new_tokens=budget)


def _scored(loaded: generation.Loaded, task: grpo_data.Task, chosen: list, budget: int) -> Scored:
    """One prompt answered greedily, as the job's held-out check answers: its system turn, if any, and
    its last user turn (the playground's chat form; earlier turns of a longer chat are left out)."""
    system = next((m["content"] for m in task.prompt if m["role"] == "system"), "")
    user = next((m["content"] for m in reversed(task.prompt) if m["role"] == "user"), "")
    settings = generation.Settings(mode="chat", prompt=user, system=system, max_new_tokens=budget)
    answer, _seconds = generation.run(loaded, settings)
    total, each = rewards.total(chosen, answer, task.answer)
    return Scored(user, answer, task.answer, round(total, 4), each)
