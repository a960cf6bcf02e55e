"""BitFit: train only the bias terms (and a classifier's new head); every weight matrix stays frozen."""

from __future__ import annotations

from typing import Any

from trainers.methods import layers
from trainers.methods.base import Context, MethodError, Prepared, TrainMethod


def apply_bitfit(model: Any, params: None, ctx: Context) -> Prepared:
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    if not biases:
        raise MethodError(
            f"method: BitFit trains only bias terms, and this {type(model).__name__} has none "
            "(Llama-style models are built without biases); pick LoRA or freeze tuning instead"
        )
    layers.freeze_all(model)
    for bias in biases:
        bias.requires_grad_(True)
    if ctx.task_type == "SEQ_CLS":
        layers.set_trainable(layers.head_modules(model, ctx))
    return Prepared(model)


METHOD = TrainMethod(
    name="bitfit",
    title="BitFit (biases only)",
    description="Trains only the bias terms, a tiny share of the weights; needs a model that has "
    "biases (BERT, GPT-2, Qwen).",
    paper="https://arxiv.org/abs/2106.10199",
    apply=apply_bitfit,
    artifact="model",
)
