"""Exact match after normalisation: case, surrounding punctuation, articles and spaces do not count
(SQuAD's normalisation), so "The Paris." matches "paris"."""

from __future__ import annotations

import re
import string

from pydantic import Field

from trainers.rewards.base import Reward, RewardParams, final_answer

_ARTICLES = re.compile(r"\b(a|an|the)\b")


class ExactMatchParams(RewardParams):
    case_sensitive: bool = Field(False, description="Count upper and lower case as different.")


def normalise(text: str, *, case_sensitive: bool = False) -> str:
    text = text if case_sensitive else text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = _ARTICLES.sub(" ", text) if not case_sensitive else text
    return " ".join(text.split())


def score(completion: str, answer: str, params: ExactMatchParams) -> float:
    got = normalise(final_answer(completion), case_sensitive=params.case_sensitive)
    return float(got == normalise(answer, case_sensitive=params.case_sensitive))


def problem(answer: str, params: ExactMatchParams) -> str | None:
    if not normalise(answer, case_sensitive=params.case_sensitive):
        return "the answer is empty once punctuation and spaces are taken away; nothing can match it"
    return None


REWARD = Reward(
    "exact_match",
    "The answer matches the expected one (ignoring case, punctuation and spaces)",
    score,
    ExactMatchParams,
    problem,
)
