"""The answer contains the expected text: the whole completion, reasoning included, holds the row's
answer as a substring (OpenAI's ``string_check`` with ``like`` / ``ilike``)."""

from __future__ import annotations

from pydantic import Field

from trainers.rewards.base import Reward, RewardParams


class ContainsParams(RewardParams):
    case_sensitive: bool = Field(True, description="Count upper and lower case as different.")


def score(completion: str, answer: str, params: ContainsParams) -> float:
    if params.case_sensitive:
        return float(answer in completion)
    return float(answer.casefold() in completion.casefold())


def problem(answer: str, params: ContainsParams) -> str | None:
    # Every completion contains the empty text: it would reward everything alike.
    return "the answer is empty; every completion would contain it" if not answer else None


REWARD = Reward("contains", "The answer contains the expected text", score, ContainsParams, problem)
