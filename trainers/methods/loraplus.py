"""LoRA+ (Hayou et al. 2024): LoRA whose B matrices learn ``lr_ratio`` times faster than the A matrices.

The adapter is plain LoRA (the spec's ``lora`` group); only the optimizer differs. It is built
with peft's ``create_loraplus_optimizer`` and handed to the Trainer, which keeps its own
learning-rate schedule on top of the per-group rates.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod
from trainers.methods.lora import attach_lora
from trainers.spec import LoraParams


class LoraPlusParams(MethodParams):
    lr_ratio: float = Field(
        16.0,
        ge=1.0,
        le=1024.0,
        description="Learning rate of B over that of A; the paper uses 2 to 32, often 16.",
    )
    lr_embedding: float = Field(
        1e-6, gt=0.0, le=1.0, description="Learning rate for adapters on embedding layers, if any."
    )


def apply_loraplus(model: Any, params: LoraPlusParams, ctx: Context) -> Prepared:
    prepared = attach_lora(model, ctx.lora or LoraParams(), ctx)

    def optimizer(peft_model: Any, args: Any) -> Any:
        import torch
        from peft.optimizers import create_loraplus_optimizer

        return create_loraplus_optimizer(
            peft_model,
            torch.optim.AdamW,
            lr=args.learning_rate,
            loraplus_lr_ratio=params.lr_ratio,
            loraplus_lr_embedding=params.lr_embedding,
            weight_decay=args.weight_decay,
        )

    prepared.optimizer = optimizer
    return prepared


METHOD = TrainMethod(
    name="loraplus",
    title="LoRA+",
    description="LoRA with a higher learning rate for the B matrices than for A; "
    "often learns faster at no cost.",
    paper="https://arxiv.org/abs/2402.12354",
    apply=apply_loraplus,
    method_params=LoraPlusParams,
    uses_lora_group=True,
)
