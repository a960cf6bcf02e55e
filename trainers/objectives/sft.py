"""Supervised fine-tuning of a causal LM: text, instruction or chat rows, loss on the responses.

Rows are rendered (chat rows with the model's chat template) and tokenized with labels on the
answer tokens only; ``trainers/packing.py`` then makes the batches (padded, grouped by length,
packed, or up to a token budget, as ``training`` says).
"""

from __future__ import annotations

import logging
from typing import Any

from trainers import methods, train
from trainers.callbacks import EventsCallback, SamplePrompt
from trainers.data import DataError
from trainers.examples import PadCollator, build_examples, render, row_messages
from trainers.objectives.base import Built, Recipe
from trainers.packing import check_packing_fits, prepare_batches
from trainers.spec import TrainSpec

log = logging.getLogger("trainers")


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    task, max_length = spec.dataset.task, spec.training.max_seq_length
    train_set, eval_set = tokenize_splits(tokenizer, train_rows, eval_rows, task, max_length)
    batches = prepare_batches(train_set, eval_set, spec.training, tokenizer.pad_token_id)
    pad = PadCollator(tokenizer.pad_token_id)  # EVA's batches: the examples as they are, padded
    return Built(
        tokenizer, model, device, batches.train, batches.eval, (len(train_rows), len(eval_rows)),
        collator=batches.collator,
        prebatched=batches.prebatched,
        examples_per_batch=batches.examples_per_batch,
        sample=sample_prompt(tokenizer, eval_rows, task, max_length),
        first_batches=train.first_batches(train_set, pad, spec.training.batch_size),
    )


def make_trainer(
    spec: TrainSpec, built: Built, prepared: methods.Prepared, args: Any, callback: EventsCallback
) -> Any:
    check_packing_fits(prepared.model, spec.training)  # prompt-based methods cannot share packed rows
    return train.hf_trainer(spec, built, prepared, args, callback)


def tokenize_splits(
    tokenizer: Any, train_rows: list[dict], eval_rows: list[dict], task: str, max_length: int
) -> tuple[list[dict], list[dict]]:
    train_set, train_stats = build_examples(tokenizer, train_rows, task, max_length)
    eval_set, eval_stats = build_examples(tokenizer, eval_rows, task, max_length)
    for note in train_stats.notes:
        log.warning(f"Training data: {note}")
    for note in eval_stats.notes:
        log.warning(f"Evaluation data: {note}")
    for split, examples, rows in (("training", train_set, train_rows), ("evaluation", eval_set, eval_rows)):
        if rows and not examples:
            raise DataError(
                f"none of the {len(rows)} {split} rows has an answer within max_seq_length={max_length} "
                "tokens; raise max_seq_length or check the data",
                file="dataset",
            )
    return train_set, eval_set


def sample_prompt(tokenizer: Any, eval_rows: list[dict], task: str, max_length: int) -> SamplePrompt | None:
    """The held-out prompt to generate from after each eval: the first that fits the context."""
    for row in eval_rows[:20]:
        sample = _row_prompt(tokenizer, row, task)
        if 0 < len(sample.ids) < max_length:  # as in training, so within what the model handles
            return sample
    return None


def _row_prompt(tokenizer: Any, row: dict, task: str) -> SamplePrompt:
    if task == "text":
        ids = tokenizer(row["text"])["input_ids"][:16]
        return SamplePrompt(tokenizer.decode(ids, skip_special_tokens=True), ids, None)
    messages = row_messages(row, task)
    last_reply = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=len(messages))
    context = messages[:last_reply]
    text = render(tokenizer, context, generation_prompt=True)
    shown = context[-1]["content"] if context else ""
    expected = messages[last_reply]["content"] if last_reply < len(messages) else None
    return SamplePrompt(shown, tokenizer(text, add_special_tokens=False)["input_ids"], expected)


RECIPE = Recipe(build=build, trainer=make_trainer, save=train.save_lm)
