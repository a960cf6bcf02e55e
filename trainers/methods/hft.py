"""Half fine-tuning, HFT (Hui et al. 2024, "HFT: Half Fine-Tuning for Large Language Models"): in every
transformer block half of the parameters train and the other half stay frozen, chosen at random
category by category (half of the attention matrices, half of the feed-forward ones, one of the two
norms); each round (an epoch, or every ``period`` steps) a new draw. The frozen half keeps what the
model knew; the result is a whole model. Our own code: a TrainerCallback (``callbacks.HalfLayers``),
which also drops the optimizer state of the parameters a draw freezes."""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field

from trainers.methods import layers
from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod


class HftParams(MethodParams):
    period: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Optimizer steps between two draws of the half that trains; 0: a new draw each epoch "
        "(the paper: each round of training).",
    )
    train_embeddings: bool = Field(False, description="Also train the input embeddings throughout.")
    train_head: bool = Field(
        False, description="Also train the output layer throughout (a classifier's head always trains)."
    )


def categories(block: Any) -> list[list[Any]]:
    """A block's parameter-holding parts, by category: each child module with several (attention's
    matrices, the MLP's) is one category of its leaf modules; the single ones (the norms) form one
    together."""
    grouped: list[list[Any]] = []
    singles: list[Any] = []
    for child in block.children():
        leaves = [m for m in child.modules() if any(True for _ in m.parameters(recurse=False))]
        if len(leaves) > 1:
            grouped.append(leaves)
        elif leaves:
            singles.append(leaves[0])
    return [*grouped, singles] if singles else grouped


def draw(blocks: list[Any], seed: int, round_: int) -> list[Any]:
    """The modules that train in ``round_``: per block and category half the members (a category
    of an odd size n gives ⌈n/2⌉ in half the blocks, drawn at random, and ⌊n/2⌋ in the others)."""
    rng = random.Random(f"{seed}:hft:{round_}")
    shapes = [len(c) for c in categories(blocks[0])] if blocks else []
    # Which blocks take the larger half of each odd-sized category.
    larger = [set(rng.sample(range(len(blocks)), len(blocks) // 2)) for _ in shapes]
    chosen: list[Any] = []
    for number, block in enumerate(blocks):
        for index, members in enumerate(categories(block)):
            size = len(members)
            take = size // 2 + (size % 2 if index < len(larger) and number in larger[index] else 0)
            chosen += rng.sample(members, take)
    return chosen


def apply_hft(model: Any, params: HftParams, ctx: Context) -> Prepared:
    from trainers.methods.callbacks import HalfLayers

    _name, all_blocks = layers.blocks(model)
    always = layers.head_modules(model, ctx) if params.train_head or ctx.task_type == "SEQ_CLS" else []
    if params.train_embeddings:
        always += layers.embedding_modules(model)
    # Everything a draw may pick must be trainable when the Trainer builds its optimizer; the
    # callback freezes the other half when training begins.
    for param in model.parameters():
        param.requires_grad_(True)
    callback = HalfLayers(model, all_blocks, always, period=params.period, seed=ctx.seed)
    return Prepared(model, callbacks=[callback])


METHOD = TrainMethod(
    name="hft",
    title="Half fine-tuning (HFT)",
    description="Trains a random half of each block's parameters and freezes the other half, drawn anew "
    "each round: less forgetting and optimizer memory than full fine-tuning. The result is a whole model.",
    paper="https://arxiv.org/abs/2404.18466",
    apply=apply_hft,
    method_params=HftParams,
    artifact="model",
)
