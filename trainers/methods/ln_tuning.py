"""LN tuning (Zhao et al. 2024, "Tuning LayerNorm in Attention"): train only the normalisation layers'
weights (and biases), on a copy peft keeps as the adapter; everything else stays frozen."""

from __future__ import annotations

from typing import Any

from trainers.methods.base import Context, Prepared, TrainMethod, wrap_peft


def apply_ln_tuning(model: Any, params: None, ctx: Context) -> Prepared:
    from peft import LNTuningConfig

    return Prepared(wrap_peft(model, LNTuningConfig(task_type=ctx.task_type), "method"))


METHOD = TrainMethod(
    name="ln_tuning",
    title="LN tuning",
    description="Trains only the LayerNorm/RMSNorm weights: the smallest adapter there is, for light "
    "adjustments. Likes a high learning rate (~1e-2).",
    paper="https://arxiv.org/abs/2312.11420",
    apply=apply_ln_tuning,
)
