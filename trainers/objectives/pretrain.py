"""Continued pre-training: raw text, packed into full blocks, loss on every token.

Rows are tokenized, joined with eos between them and cut into blocks of ``max_seq_length``
tokens, so no step is spent on padding and documents flow across block edges as in
pre-training. Evaluation reports the loss and its perplexity.
"""

from __future__ import annotations

import logging
from typing import Any

from trainers import methods, train
from trainers.data import DataError
from trainers.examples import PadCollator
from trainers.objectives.base import Built, Recipe
from trainers.objectives.sft import sample_prompt
from trainers.spec import TrainSpec

log = logging.getLogger("trainers")


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    """(n_blocks, max_seq_length) token blocks; the labels are the inputs (the model shifts them)."""
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    block = spec.training.max_seq_length
    train_set = pack_blocks(tokenizer, [row["text"] for row in train_rows], block)
    eval_set = pack_blocks(tokenizer, [row["text"] for row in eval_rows], block)
    log.info(f"Packed {len(train_rows)} rows into {len(train_set)} blocks of up to {block} tokens")
    collator = PadCollator(tokenizer.pad_token_id)
    return Built(
        tokenizer, model, device, train_set, eval_set, (len(train_rows), len(eval_rows)),
        collator=collator,
        sample=sample_prompt(tokenizer, eval_rows, "text", block),
        first_batches=train.first_batches(train_set, collator, spec.training.batch_size),
    )


def pack_blocks(tokenizer: Any, texts: list[str], block: int) -> list[dict]:
    """Token blocks of exactly ``block`` ids from the texts joined by eos; a shorter tail is kept
    only when it is all there is (the trainer needs at least one example)."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text)["input_ids"]
        if tokenizer.eos_token_id is not None:
            stream.append(tokenizer.eos_token_id)  # where one document ends and the next begins
    if len(stream) < 2:
        raise DataError("the text rows hold no tokens to train on", file="dataset")
    n_full = len(stream) // block
    starts = range(0, n_full * block, block) if n_full else [0]
    return [{"input_ids": stream[i:i + block], "labels": stream[i:i + block]} for i in starts]


RECIPE = Recipe(build=build, trainer=train.hf_trainer, save=train.save_lm, perplexity=True)
