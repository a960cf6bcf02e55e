"""VeRA (Kopiczko et al. 2024): one pair of frozen random matrices shared by all layers, with small
trained scaling vectors per layer: LoRA-like updates at a tenth of the trainable weights."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft


class VeraParams(MethodParams):
    r: int = Field(
        256, ge=1, le=4096, description="Rank of the shared random matrices; VeRA uses high ranks."
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    d_initial: float = Field(0.1, gt=0.0, le=10.0, description="Starting value of the trained d vectors.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer."
    )


def apply_vera(model: Any, params: VeraParams, ctx: Context) -> Prepared:
    from peft import VeraConfig

    config = VeraConfig(
        task_type=ctx.task_type,
        r=params.r,
        vera_dropout=params.dropout,
        d_initial=params.d_initial,
        target_modules=params.target_modules,
        projection_prng_key=ctx.seed,
        save_projection=True,  # the shared matrices travel with the adapter, so it loads anywhere
    )
    return Prepared(wrap_peft(model, config, "method_params"))


METHOD = TrainMethod(
    name="vera",
    title="VeRA",
    description="Shares frozen random low-rank matrices across layers and trains only scaling vectors; "
    "likes a high learning rate (~1e-2).",
    paper="https://arxiv.org/abs/2310.11454",
    apply=apply_vera,
    method_params=VeraParams,
)
