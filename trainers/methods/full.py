"""Full fine-tuning: every weight of the model trains; the result is a whole model."""

from __future__ import annotations

from typing import Any

from trainers.methods.base import Context, Prepared, TrainMethod


def apply_full(model: Any, params: None, ctx: Context) -> Prepared:
    for param in model.parameters():
        param.requires_grad_(True)
    return Prepared(model)


METHOD = TrainMethod(
    name="full",
    title="Full fine-tuning",
    description="Updates every weight; the most capacity, and the most memory "
    "(about 16 bytes per parameter).",
    paper="https://arxiv.org/abs/1801.06146",
    apply=apply_full,
    artifact="model",
)
