"""GRPO's own parameters (the spec's ``grpo`` group): the group of completions sampled per prompt,
the rewards that score them, and the policy update's KL term and clipping.

Names follow TRL's ``GRPOConfig`` where a field goes to it as it is. The learning rate is the
training group's (``training.learning_rate``); RL wants it far lower than SFT (1e-5 for LoRA,
1e-6 for full fine-tuning are the usual starts). Nothing here imports torch.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from trainers.objectives.base import ObjectiveParams
from trainers.rewards.registry import REWARDS, RewardChoice


class GrpoParams(ObjectiveParams):
    """GRPO: sample a group of answers per prompt, score them with rewards, and move the model towards
    the answers that scored above their group's mean. https://arxiv.org/abs/2402.03300"""

    num_generations: int = Field(
        8,
        ge=2,
        le=64,
        description="Group size: answers sampled per prompt and compared with each other (4-16 usual).",
    )
    rewards: list[RewardChoice] = Field(
        default_factory=lambda: ["exact_match"],
        min_length=1,
        max_length=8,
        validate_default=True,
        description=f"What scores an answer: names with an optional weight (math, format:0.2); from "
        f"{', '.join(REWARDS)}. In the API, objects with name, weight and params.",
    )
    beta: float = Field(
        0.04,
        ge=0.0,
        le=10.0,
        description="KL coefficient: how strongly the model is held near where it started; 0 turns the "
        "reference model off (less memory), 0.04 is the paper's.",
    )
    epsilon: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="Clipping: how far one update may change an answer's probability ratio (PPO's ε).",
    )
    max_completion_length: int = Field(
        64,
        ge=1,
        le=16384,
        description="Longest answer sampled, in tokens; prompt plus this must fit training.max_seq_length.",
    )
    temperature: float = Field(
        1.0,
        gt=0.0,
        le=2.0,
        description="Sampling temperature: higher gives more varied answers in a group to learn from.",
    )
    use_vllm: bool = Field(
        False, description="Generate with vLLM (GPU only, the 'vllm' extra) instead of transformers."
    )

    @field_validator("rewards")
    @classmethod
    def _each_reward_once(cls, rewards: list[RewardChoice]) -> list[RewardChoice]:
        names = [r.name for r in rewards]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{twice[0]} is chosen twice; give each reward once, with one weight")
        return rewards

    @model_validator(mode="after")
    def _something_is_rewarded(self) -> GrpoParams:
        if all(r.weight == 0 for r in self.rewards):
            raise ValueError("rewards: every weight is 0, so nothing would be learned")
        return self
