"""Freeze tuning: train only the last N transformer blocks and any named modules; the rest stays fixed."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainers.methods import layers
from trainers.methods.base import Context, MethodError, MethodParams, Prepared, TrainMethod


class FreezeParams(MethodParams):
    trainable_layers: int = Field(
        2,
        ge=0,
        le=1000,
        description="How many of the last transformer blocks train; 0 trains only the named modules.",
    )
    trainable_modules: list[str] = Field(
        default_factory=list,
        description="Extra modules to train, by name or name ending (e.g. 'norm', 'embed_tokens').",
    )
    train_head: bool = Field(
        False, description="Also train the output layer (a classifier's head always trains)."
    )


def apply_freeze(model: Any, params: FreezeParams, ctx: Context) -> Prepared:
    _name, all_blocks = layers.blocks(model)
    if params.trainable_layers > len(all_blocks):
        raise MethodError(
            f"method_params.trainable_layers: the model has {len(all_blocks)} blocks, "
            f"not {params.trainable_layers}; pick at most {len(all_blocks)} (or use full fine-tuning)"
        )
    layers.freeze_all(model)
    chosen = all_blocks[len(all_blocks) - params.trainable_layers :] if params.trainable_layers else []
    layers.set_trainable(chosen)
    named = _named_modules(model, params.trainable_modules)
    layers.set_trainable(named)
    if params.train_head or ctx.task_type == "SEQ_CLS":
        layers.set_trainable(layers.head_modules(model, ctx))
    if layers.trainable_count(model) == 0:
        raise MethodError("method_params: nothing would train; raise trainable_layers or name some modules")
    return Prepared(model)


def _named_modules(model: Any, names: list[str]) -> list[Any]:
    found = []
    for wanted in names:
        matches = [m for n, m in model.named_modules() if n and (n == wanted or n.endswith(f".{wanted}"))]
        if not matches:
            raise MethodError(f"method_params.trainable_modules: the model has no module named {wanted!r}")
        found += matches
    return found


METHOD = TrainMethod(
    name="freeze",
    title="Freeze tuning (last N layers)",
    description="Trains only the last few transformer blocks (and any modules you name); "
    "the rest stays frozen.",
    paper="https://arxiv.org/abs/1411.1792",
    apply=apply_freeze,
    method_params=FreezeParams,
    artifact="model",
)
