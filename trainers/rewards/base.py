"""What a reward is: a registry entry that scores one completion against its row's answer.

Every reward is a plain Python function from the registry (``trainers.rewards.registry``); no
user code runs. A reward returns a number in [0, 1] (the length penalty: in [-1, 0]) so rewards
with weights add up to something a person can read. Each also says whether it can apply to a
row at all (``problem``), so a dataset it cannot score is refused before any compute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class RewardParams(BaseModel):
    """Base of a reward's own parameters: unknown fields are errors, values are final."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(RewardParams):
    pass


# (completion, the row's answer, the reward's params) -> score
ScoreFn = Callable[[str, str, RewardParams], float]
# (the row's answer, params) -> why this reward cannot score the row, or None
ProblemFn = Callable[[str, RewardParams], str | None]
# The models rewards may load (a Hone classifier), by ModelAsset id: their directories. The platform
# fills them in from the job's inputs (``TrainSpec.reward_models``); a request never names a path.
RewardModels = Mapping[str, str]
# (completions, their rows' answers, params, reward models, their prompts or None) -> scores, all at
# once (a model, batched); the prompts are each row's last user turn as text (``prompt_text``)
BatchScoreFn = Callable[[list[str], list[str], RewardParams, RewardModels, list[str] | None], list[float]]


@dataclass(frozen=True)
class Reward:
    name: str
    title: str  # plain words, for the form and the API
    score: ScoreFn | None  # None: the reward scores in batches (``batch``)
    params: type[RewardParams] = NoParams
    problem: ProblemFn | None = None  # None: every row can be scored
    uses_answer: bool = True  # False: scores the completion alone (format, JSON, length)
    batch: BatchScoreFn | None = None  # scores many completions at once; ``score`` is then unused
    passing: float = 1.0  # the score that counts as right (accuracy, verified answers)
    # Parameters a form's text can carry, in order: "classifier=42/good" is model 42, label good.
    text_params: tuple[str, ...] = ()

    def row_problem(self, answer: str, params: RewardParams) -> str | None:
        return None if self.problem is None else self.problem(answer, params)

    def scores(
        self,
        completions: list[str],
        answers: list[str],
        params: RewardParams,
        models: RewardModels,
        prompts: list[str] | None = None,
    ) -> list[float]:
        """Each completion's score against its row's answer (a batched reward may read the prompts)."""
        if self.batch is not None:
            return self.batch(completions, answers, params, models, prompts)
        assert self.score is not None
        return [self.score(c, a, params) for c, a in zip(completions, answers, strict=True)]


def prompt_text(prompt: Any) -> str:
    """A row's prompt as a reward reads it: a chat's last user turn (TRL and Hone's tasks give chats
    as lists of messages), or the text itself."""
    if isinstance(prompt, list):
        turns = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str((turns[-1] if turns else {}).get("content") or "")
    return str(prompt)


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_MARKERS = ("####", "final answer:", "answer:")


def final_answer(completion: str) -> str:
    """The part of a completion that is its answer: the last <answer>…</answer>, else what follows
    the last "####" / "Final answer:" / "Answer:" (GSM8K's and the usual prompts' markers), else
    the whole completion. Reasoning before the answer is not compared."""
    tagged = _ANSWER_TAG.findall(completion)
    if tagged:
        return tagged[-1].strip()
    lowered = completion.lower()
    for marker in _MARKERS:
        at = lowered.rfind(marker)
        if at >= 0:
            return completion[at + len(marker) :].strip()
    return completion.strip()
