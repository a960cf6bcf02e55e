"""Numeric / mathematical equivalence through math-verify: "0.5", "1/2", "\\frac{1}{2}" and
"$\\boxed{\\tfrac12}$" are the same answer. The expected answer must itself parse as maths."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from trainers.rewards.base import Reward, RewardParams, final_answer


class MathParams(RewardParams):
    float_rounding: int = Field(6, ge=0, le=12, description="Decimal places numbers are compared to.")


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    # Both extractors: plain numbers and expressions ("42", "3/4") and LaTeX ("\\frac{3}{4}").
    return tuple(parse(text, extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
                       parsing_timeout=None))


def score(completion: str, answer: str, params: MathParams) -> float:
    from math_verify import verify

    gold, got = _parsed(answer), _parsed(final_answer(completion))
    if not gold or not got:
        return 0.0
    # timeout_seconds=None: math-verify's timeout uses SIGALRM, which only works in the main thread.
    ok = verify(list(gold), list(got), float_rounding=params.float_rounding, timeout_seconds=None)
    return float(ok)


def problem(answer: str, params: MathParams) -> str | None:
    if not _parsed(answer):
        return f"the answer {answer[:60]!r} is not a number or a mathematical expression"
    return None


REWARD = Reward(
    "math",
    "The answer is mathematically equal to the expected one (0.5 = 1/2 = \\frac{1}{2})",
    score,
    MathParams,
    problem,
)
