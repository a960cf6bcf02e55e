"""Prefix tuning (Li & Liang 2021): learned key/value prefixes in every attention layer.

The model itself stays frozen.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainers.methods.base import (
    CAUSAL_LM_GENERATION,
    Context,
    MethodParams,
    Prepared,
    TrainMethod,
    wrap_peft,
)


class PrefixTuningParams(MethodParams):
    num_virtual_tokens: int = Field(
        20, ge=1, le=512, description="Length of the learned prefix in each layer."
    )
    prefix_projection: bool = Field(
        False,
        description="Learn the prefix through a small MLP (the paper's reparametrisation): steadier, larger.",
    )
    encoder_hidden_size: int = Field(
        512, ge=1, le=16384, description="Hidden size of that MLP (with prefix_projection only)."
    )


def apply_prefix_tuning(model: Any, params: PrefixTuningParams, ctx: Context) -> Prepared:
    from peft import PrefixTuningConfig

    config = PrefixTuningConfig(
        task_type=ctx.task_type,
        num_virtual_tokens=params.num_virtual_tokens,
        prefix_projection=params.prefix_projection,
        encoder_hidden_size=params.encoder_hidden_size,
    )
    return Prepared(wrap_peft(model, config, "method_params"))


METHOD = TrainMethod(
    name="prefix_tuning",
    title="Prefix tuning",
    description="Learns key/value prefixes for every attention layer; the model itself is untouched. "
    "Likes a high learning rate (~1e-2).",
    paper="https://arxiv.org/abs/2101.00190",
    apply=apply_prefix_tuning,
    method_params=PrefixTuningParams,
    objectives=CAUSAL_LM_GENERATION,
)
