"""Sparse fine-tuning, SpIEL (Ansell et al. 2024, "Scaling Sparse Fine-Tuning to Large Language Models"):
each linear layer of the blocks keeps a fixed budget of trainable entries (its ``density``), a sparse
delta on the frozen pretrained weight. Every ``update_interval`` steps the entries whose deltas are
smallest are dropped (back to the pretrained value) and as many are grown where the gradient says
they would help most: the accumulated gradients of random candidates (SpIEL-AG) or SM3's row and
column estimate of the squared gradients (SpIEL-MA). Only the k values, their gradient and AdamW's
state train; the result is a plain model (base + delta), and optionally the delta itself. The
machinery is ``trainers/methods/sparse_delta.py`` (a Trainer callback, no loop of its own)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods import layers
from trainers.methods.base import Context, MethodError, MethodParams, Prepared, TrainMethod


class SpielParams(MethodParams):
    density: float = Field(
        0.01,
        gt=0.0,
        le=0.5,
        description="Share of each weight matrix's entries that train (the paper: a budget like LoRA's, "
        "often under 1%).",
    )
    update_interval: int = Field(
        50, ge=1, le=100_000, description="Optimizer steps between two drop-and-grow updates of the entries."
    )
    drop_fraction: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Share of the entries dropped and regrown at the first update; it decays to 0 along "
        "a cosine over the run.",
    )
    regrow: Literal["gradient", "sm3"] = Field(
        "gradient",
        description="How new entries are chosen: 'gradient' by the accumulated gradients of as many random "
        "candidates (SpIEL-AG); 'sm3' by SM3's row and column estimate of the squared gradients (SpIEL-MA).",
    )
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="Linear layers of the blocks that get a sparse delta, by name ending (e.g. 'q_proj').",
    )
    save_delta: bool = Field(
        False,
        description="Also save the sparse delta (indices and values, sparse_delta.safetensors) beside the "
        "whole model.",
    )


def targets(model: Any, wanted: list[str] | str) -> list[tuple[str, Any]]:
    """The plain linear layers of the transformer's blocks that ``target_modules`` names."""
    import torch

    prefix, _blocks = layers.blocks(model)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if type(module) is torch.nn.Linear
        and name.startswith(f"{prefix}.")
        and (wanted == "all-linear" or any(name == t or name.endswith(f".{t}") for t in wanted))
    ]
    if not found:
        raise MethodError(
            f"method_params.target_modules: no linear layer of {type(model).__name__}'s blocks matches "
            f"{wanted!r}"
        )
    return found


def apply_spiel(model: Any, params: SpielParams, ctx: Context) -> Prepared:
    import torch

    from trainers.methods import sparse_delta

    chosen = targets(model, params.target_modules)
    layers.freeze_all(model)
    generator = torch.Generator().manual_seed(ctx.seed)
    for _name, module in chosen:
        sparse_delta.make_sparse(module, params.density, params.regrow, generator)
    sparse_delta.keep_statistics_per_process(model)
    if ctx.task_type == "SEQ_CLS":  # a classifier's new head trains whole
        layers.set_trainable(layers.head_modules(model, ctx))
    callback = sparse_delta.DropAndGrow(
        model,
        interval=params.update_interval,
        drop_fraction=params.drop_fraction,
        total_steps=ctx.total_steps,
        seed=ctx.seed,
        delta_dir=ctx.work_dir / "model" if params.save_delta and ctx.work_dir else None,
    )
    return Prepared(model, callbacks=[callback])


METHOD = TrainMethod(
    name="spiel",
    title="Sparse fine-tuning (SpIEL)",
    description="Trains a small fixed share of each weight matrix's entries, moving them by drop-and-grow: "
    "about LoRA's memory, and the result is a whole model (base + sparse delta).",
    paper="https://arxiv.org/abs/2401.16405",
    apply=apply_spiel,
    method_params=SpielParams,
    # Those tested end to end (tests/trainers/test_methods_sparse_half.py); the preference ones share
    # one recipe. Not yet: grpo, rejection_sampling, refusal_aware.
    objectives=("sft", "pretrain", "classification", "dpo", "orpo", "simpo", "kto"),
    artifact="model",
)
