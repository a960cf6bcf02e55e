"""LISA (Pan et al. 2024): layer-wise importance sampling. All weights can train, but at any time only
a few transformer blocks drawn at random (plus, by default, the embeddings and the head) do;
every ``period`` steps a new draw. Full fine-tuning quality at a fraction of the gradient and
optimizer memory. Our own code: a TrainerCallback (trainers/methods/callbacks.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainers.methods import layers
from trainers.methods.base import Context, MethodError, MethodParams, Prepared, TrainMethod


class LisaParams(MethodParams):
    n_layers: int = Field(2, ge=1, le=1000, description="How many blocks train at a time.")
    period: int = Field(20, ge=1, le=100000, description="Steps between two draws of the blocks to train.")
    train_embeddings: bool = Field(
        True, description="Keep the input embeddings training throughout (as the paper)."
    )
    train_head: bool = Field(True, description="Keep the output layer training throughout (as the paper).")


def apply_lisa(model: Any, params: LisaParams, ctx: Context) -> Prepared:
    from trainers.methods.callbacks import LisaLayers

    _name, all_blocks = layers.blocks(model)
    if params.n_layers > len(all_blocks):
        raise MethodError(
            f"method_params.n_layers: the model has {len(all_blocks)} blocks, not {params.n_layers}; "
            f"pick at most {len(all_blocks)}"
        )
    always = layers.head_modules(model, ctx) if params.train_head or ctx.task_type == "SEQ_CLS" else []
    if params.train_embeddings:
        always += layers.embedding_modules(model)
    # Everything the draws may pick must be trainable when the Trainer builds its optimizer;
    # the callback freezes all but the drawn blocks when training begins.
    for param in model.parameters():
        param.requires_grad_(True)
    callback = LisaLayers(
        model, all_blocks, always, n_layers=params.n_layers, period=params.period, seed=ctx.seed
    )
    return Prepared(model, callbacks=[callback])


METHOD = TrainMethod(
    name="lisa",
    title="LISA (layer-wise sampling)",
    description="Trains a few randomly drawn blocks at a time, switching every few steps: "
    "near full fine-tuning quality with far less optimizer memory. The result is a whole model.",
    paper="https://arxiv.org/abs/2403.17919",
    apply=apply_lisa,
    method_params=LisaParams,
    artifact="model",
)
