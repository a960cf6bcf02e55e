"""What a reward is: a registry entry that scores one completion against its row's answer.

Every reward is a plain Python function from the registry (``trainers.rewards.registry``); no
user code runs. A reward returns a number in [0, 1] (the length penalty: in [-1, 0]) so rewards
with weights add up to something a person can read. Each also says whether it can apply to a
row at all (``problem``), so a dataset it cannot score is refused before any compute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Reward:
    name: str
    title: str  # plain words, for the form and the API
    score: ScoreFn
    params: type[RewardParams] = NoParams
    problem: ProblemFn | None = None  # None: every row can be scored
    uses_answer: bool = True  # False: scores the completion alone (format, JSON, length)

    def row_problem(self, answer: str, params: RewardParams) -> str | None:
        return None if self.problem is None else self.problem(answer, params)


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
