"""Exact match after normalisation: case, surrounding punctuation, articles and spaces do not count
(SQuAD's normalisation), so "The Paris." matches "paris". An answer that is all articles keeps its
last word, so a single-letter answer survives: "A" matches "a" (and "(A)", "The A"), not "B"."""

from __future__ import annotations

import string

from pydantic import Field

from trainers.rewards.base import Reward, RewardParams, final_answer

_ARTICLES = frozenset({"a", "an", "the"})


class ExactMatchParams(RewardParams):
    case_sensitive: bool = Field(False, description="Count upper and lower case as different.")


def normalise(text: str, *, case_sensitive: bool = False) -> str:
    text = text if case_sensitive else text.lower()
    words = "".join(ch for ch in text if ch not in string.punctuation).split()
    if case_sensitive:
        return " ".join(words)
    kept = [w for w in words if w not in _ARTICLES]
    return " ".join(kept or words[-1:])  # "A" is an answer (an option letter), not an article


def score(completion: str, answer: str, params: ExactMatchParams) -> float:
    got = normalise(final_answer(completion), case_sensitive=params.case_sensitive)
    return float(got == normalise(answer, case_sensitive=params.case_sensitive))


def problem(answer: str, params: ExactMatchParams) -> str | None:
    if not normalise(answer, case_sensitive=params.case_sensitive):
        return "the answer is empty once punctuation and spaces are taken away; nothing can match it"
    return None


REWARD = Reward(
    "exact_match",
    "The answer matches the expected one (ignoring case, punctuation, articles and spaces; a lone "
    "letter such as A still counts)",
    score,
    ExactMatchParams,
    problem,
)
