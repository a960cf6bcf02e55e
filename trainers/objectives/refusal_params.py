"""Refusal-aware tuning's own parameters (the spec's ``refusal_aware`` group): the rewards that say
whether the model knew an answer, how long an answer may be, and the words it learns to say for what
it does not know. Nothing here imports torch."""

from __future__ import annotations

from pydantic import Field, field_validator

from trainers.objectives.base import ObjectiveParams
from trainers.rewards.registry import REWARDS, RewardChoice


class RefusalParams(ObjectiveParams):
    """R-Tuning: the model answers every training question once (greedily); where the rewards verify
    its answer it keeps it, where they do not it learns to say ``refusal`` instead; then it is
    fine-tuned on that set. https://arxiv.org/abs/2311.09677"""

    rewards: list[RewardChoice] = Field(
        default_factory=lambda: ["exact_match"],
        min_length=1,
        max_length=8,
        validate_default=True,
        description=f"What checks an answer (all that check the answer must give full marks); from "
        f"{', '.join(REWARDS)}.",
    )
    refusal: str = Field(
        "I am not sure.",
        min_length=1,
        max_length=500,
        description="What the model learns to answer to the questions it got wrong.",
    )
    max_completion_length: int = Field(64, ge=1, le=16384, description="Longest answer generated, in tokens.")

    @field_validator("refusal")
    @classmethod
    def _refusal_says_something(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("refusal: the words to refuse with are blank; write what the model should say")
        return text.strip()
