"""MiSS (Kang et al. 2024, formerly Bone): each adapted layer learns one small r-row block that is
shared across the weight's row segments: LoRA-like quality with a single matrix per layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft


class MissParams(MethodParams):
    r: int = Field(
        64,
        ge=1,
        le=4096,
        description="Rows of the shared block; must divide each adapted layer's "
        "input width. Trains r × out weights per layer.",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer."
    )


def apply_miss(model: Any, params: MissParams, ctx: Context) -> Prepared:
    from peft import MissConfig

    config = MissConfig(
        task_type=ctx.task_type, r=params.r, miss_dropout=params.dropout, target_modules=params.target_modules
    )
    return Prepared(wrap_peft(model, config, "method_params.r"))


METHOD = TrainMethod(
    name="miss",
    title="MiSS (Bone)",
    description="One shared r-row block per layer, added to every row segment of the weight: fewer weights "
    "than LoRA at the same rank, and it learns faster. Likes a learning rate around 1e-4 to 1e-3.",
    paper="https://arxiv.org/abs/2409.15371",
    apply=apply_miss,
    method_params=MissParams,
)
