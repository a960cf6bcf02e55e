"""A length penalty: 0 up to a number of words, then down linearly to -1 at twice that. Added with a
small weight it keeps answers short without making brevity worth more than being right."""

from __future__ import annotations

from pydantic import Field

from trainers.rewards.base import Reward, RewardParams


class LengthParams(RewardParams):
    max_words: int = Field(100, ge=1, le=100_000, description="Words allowed before the penalty starts.")


def score(completion: str, answer: str, params: LengthParams) -> float:
    over = len(completion.split()) - params.max_words
    return -min(max(over, 0) / params.max_words, 1.0)


REWARD = Reward("length_penalty", "Long answers lose reward (past a number of words)", score, LengthParams,
                uses_answer=False)
