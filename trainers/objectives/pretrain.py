"""Continued pre-training: raw text, packed into full blocks, loss on every token.

Rows are tokenized, joined with eos between them and cut into blocks of ``max_seq_length``
tokens, so no step is spent on padding and documents flow across block edges as in
pre-training. Evaluation reports the loss and its perplexity.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import Trainer
from transformers.utils import logging as hf_logging

from trainers import methods, train
from trainers.callbacks import RunInfo
from trainers.data import DataError
from trainers.events import EventEmitter
from trainers.examples import PadCollator
from trainers.objectives.common import (
    ObjectiveCallback,
    attach,
    first_batches,
    prepare_model,
    save_lm,
    train_until_done,
)
from trainers.spec import TrainSpec

log = logging.getLogger("trainers")


def run_pretrain(spec: TrainSpec, emitter: EventEmitter) -> None:
    hf_logging.disable_progress_bar()
    output_dir = Path(spec.output_dir).resolve()
    train.check_inputs(spec)

    # Data: (n_blocks, max_seq_length) token blocks; the labels are the inputs (the model shifts them).
    train_rows, eval_rows = train.load_datasets(spec)
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    block = spec.training.max_seq_length
    train_set = pack_blocks(tokenizer, [row["text"] for row in train_rows], block)
    eval_set = pack_blocks(tokenizer, [row["text"] for row in eval_rows], block)
    log.info(f"Packed {len(train_rows)} rows into {len(train_set)} blocks of up to {block} tokens")

    # Model and trainer
    steps = train.plan_steps(spec, len(train_set))
    collator = PadCollator(tokenizer.pad_token_id)
    batches = first_batches(train_set, collator, spec.training.batch_size)
    prepared = prepare_model(model, spec, "CAUSAL_LM", steps.total, batches)
    trainable, total = methods.parameter_counts(prepared.model)
    samples_per_step = spec.training.batch_size * spec.training.gradient_accumulation_steps
    info = RunInfo(spec.base_model.name, device, trainable, total, samples_per_step)
    sample = train.sample_prompt(tokenizer, eval_rows, "text", block)
    callback = ObjectiveCallback(emitter, tokenizer, info, sample, metrics={}, perplexity=True)
    trainer = attach(Trainer(
        model=prepared.model,
        args=train.training_arguments(spec, output_dir, steps),
        data_collator=collator,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        callbacks=[callback, *train.early_stopping(spec), *prepared.callbacks],
    ), prepared)

    # Train, save
    train_until_done(trainer, callback, spec)
    save_lm(spec, prepared, tokenizer, callback, (len(train_rows), len(eval_rows)))
    emitter.finished("succeeded")


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
