"""Multiple choice: the completion picks one option letter and it is the expected one. The chosen
letter is read from "(B)", "B)", "B.", "Answer: B" or a lone "B"; more than one letter picked scores 0."""

from __future__ import annotations

import re

from pydantic import Field

from trainers.rewards.base import Reward, RewardParams, final_answer


class MultipleChoiceParams(RewardParams):
    options: str = Field(
        "ABCD", min_length=2, max_length=26, pattern=r"^[A-Z]+$",
        description="The option letters, in order (ABCD: four options).",
    )


def _letters(text: str, options: str) -> set[str]:
    pattern = rf"(?<![A-Za-z])\(?([{options}])(?:\)|\.|:|(?![A-Za-z]))"
    return set(re.findall(pattern, text))


def chosen(completion: str, options: str) -> str | None:
    picked = _letters(final_answer(completion), options)
    return next(iter(picked)) if len(picked) == 1 else None


def score(completion: str, answer: str, params: MultipleChoiceParams) -> float:
    return float(chosen(completion, params.options) == answer.strip().strip("().").upper())


def problem(answer: str, params: MultipleChoiceParams) -> str | None:
    letter = answer.strip().strip("().").upper()
    if len(letter) != 1 or letter not in params.options:
        return f"the answer {answer[:40]!r} is not one of the option letters {', '.join(params.options)}"
    return None


REWARD = Reward("multiple_choice", "The chosen option letter is the right one", score, MultipleChoiceParams,
                problem)
