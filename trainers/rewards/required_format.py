"""A required format: the completion matches a regular expression as a whole. The default asks for
reasoning in <think>…</think> and then the final answer in <answer>…</answer> (DeepSeek-R1's
format). A pattern is data, not code: it is compiled when the spec is checked (refused if it does not
compile), and it runs only on completions, whose length max_completion_length bounds."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from trainers.rewards.base import Reward, RewardParams

REASONING_THEN_ANSWER = r"\s*<think>.+?</think>\s*<answer>.+?</answer>\s*"


class FormatParams(RewardParams):
    pattern: str = Field(
        REASONING_THEN_ANSWER, min_length=1, max_length=500,
        description="A regular expression the whole completion must match (default: reasoning in "
        "<think>…</think>, then the answer in <answer>…</answer>).",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern


def score(completion: str, answer: str, params: FormatParams) -> float:
    return float(re.fullmatch(params.pattern, completion, re.DOTALL) is not None)


REWARD = Reward("format", "The answer follows the required format", score, FormatParams, uses_answer=False)
