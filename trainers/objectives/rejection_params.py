"""Rejection sampling's own parameters (the spec's ``rejection_sampling`` group): how many answers
to sample per prompt, how many verified ones to keep, and the rewards that verify them.
Nothing here imports torch."""

from __future__ import annotations

from pydantic import Field, model_validator

from trainers.objectives.base import ObjectiveParams
from trainers.rewards.registry import REWARDS, RewardChoice


class RejectionParams(ObjectiveParams):
    """Rejection-sampling fine-tuning, difficulty-aware (DART-Math): sample answers per prompt, keep
    those the rewards verify, sample more for hard prompts, then fine-tune on what was kept.
    https://arxiv.org/abs/2407.13690"""

    keep_per_prompt: int = Field(
        4,
        ge=1,
        le=64,
        description="Verified answers kept per prompt; a prompt stops being sampled once "
        "it has this many (m).",
    )
    max_samples: int = Field(
        32,
        ge=1,
        le=1024,
        description="At most this many answers sampled per prompt (the cap for hard ones).",
    )
    samples_per_round: int = Field(
        8,
        ge=1,
        le=64,
        description="Answers sampled per prompt at a time, until it has enough or hits the cap.",
    )
    rewards: list[RewardChoice] = Field(
        default_factory=lambda: ["exact_match"],
        min_length=1,
        max_length=8,
        validate_default=True,
        description=f"What verifies an answer (all that check the answer must give full marks); from "
        f"{', '.join(REWARDS)}.",
    )
    max_completion_length: int = Field(64, ge=1, le=16384, description="Longest answer sampled, in tokens.")
    temperature: float = Field(1.0, gt=0.0, le=2.0, description="Sampling temperature: higher, more varied.")

    @model_validator(mode="after")
    def _cap_holds_what_is_kept(self) -> RejectionParams:
        if self.max_samples < self.keep_per_prompt:
            raise ValueError(
                f"max_samples: {self.max_samples} samples cannot give {self.keep_per_prompt} verified "
                "answers (keep_per_prompt); raise max_samples or lower keep_per_prompt"
            )
        return self
