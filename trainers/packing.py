"""Batches that waste less compute: padding-free packing, token budgets and length grouping.

The Trainer's default batches ``batch_size`` examples and pads each to the longest, so on data
whose lengths vary widely most of the compute goes to padding. Here the examples are grouped
into batches once, before training (as TRL's ``packing_strategy="bfd"`` does); the Trainer then
iterates over the batches (one dataset item = one batch), shuffles their order every epoch, and
its checkpoint/resume skips exactly the batches already done, so the data position survives.

A batch is ``{"rows": [[example, ...], ...]}``: without packing one example per row, padded;
with packing several whole examples per row, up to ``max_seq_length`` tokens, each with
``position_ids`` counting from 0. transformers' masking code (``find_packed_sequence_indices``)
turns those resets into a block-diagonal causal mask when no ``attention_mask`` is given, the
same signal ``DataCollatorWithFlattening`` relies on and flash-attention reads as sequence
boundaries, so attention stays inside each example. It does so only without a KV cache: Llama
makes one whenever ``use_cache`` is on (its default, in training too) and then ignores the
resets, so a packed batch carries ``use_cache=False`` (tests/trainers/test_packing.py checks the
logits and loss match the example on its own). Unlike that collator, rows stay at most
``max_seq_length`` long: a batch of 4,096 tokens costs 8 × 512² in attention instead of 4,096².
"""

from __future__ import annotations

import bisect
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainers.examples import IGNORE_INDEX

log = logging.getLogger("trainers")

GROUP_CHUNK_BATCHES = 50  # length grouping sorts within chunks this many batches long, as HF's sampler does


@dataclass(frozen=True)
class Batching:
    """How examples become batches; from the spec's training parameters."""

    batch_size: int
    max_batch_tokens: int | None
    packing: bool
    group_by_length: bool
    row_length: int  # max_seq_length: no row (packed or not) is longer
    seed: int

    @property
    def plain(self) -> bool:
        """Nothing to do beyond the Trainer's own fixed-size padded batches."""
        return not (self.packing or self.max_batch_tokens or self.group_by_length)


def batching_from(training: Any) -> Batching:
    return Batching(
        batch_size=training.batch_size,
        max_batch_tokens=training.max_batch_tokens,
        packing=training.packing,
        group_by_length=training.group_by_length,
        row_length=training.max_seq_length,
        seed=training.seed,
    )


def make_batches(examples: Sequence[dict], how: Batching, *, shuffle: bool = True) -> list[dict]:
    """Group examples into batches (``{"rows": [[example, ...], ...]}``), deterministically from the seed."""
    lengths = [len(example["input_ids"]) for example in examples]
    order = list(range(len(examples)))
    if shuffle:
        random.Random(how.seed).shuffle(order)
    if how.group_by_length:
        order = _grouped(order, lengths, _chunk_size(how, lengths))
    if how.max_batch_tokens:
        rows = pack_rows(order, lengths, how.row_length) if how.packing else [[i] for i in order]
        if how.packing and shuffle:
            random.Random(how.seed + 1).shuffle(rows)  # packing sorted them by length
        widths = [sum(lengths[i] for i in row) for row in rows]
        batches = _by_budget(rows, widths, how.max_batch_tokens)
    else:
        chunks = [order[i : i + how.batch_size] for i in range(0, len(order), how.batch_size)]
        batches = [pack_rows(c, lengths, how.row_length) if how.packing else [[i] for i in c] for c in chunks]
    return [{"rows": [[examples[i] for i in row] for row in batch]} for batch in batches]


def _chunk_size(how: Batching, lengths: list[int]) -> int:
    per_batch = how.batch_size
    if how.max_batch_tokens and lengths:
        per_batch = max(1, how.max_batch_tokens * len(lengths) // max(sum(lengths), 1))
    return per_batch * GROUP_CHUNK_BATCHES


def _grouped(order: list[int], lengths: list[int], chunk: int) -> list[int]:
    """Longest first within each chunk: neighbours have similar lengths, chunks stay in random order."""
    grouped: list[int] = []
    for start in range(0, len(order), chunk):
        grouped += sorted(order[start : start + chunk], key=lambda i: -lengths[i])
    return grouped


def pack_rows(indices: Sequence[int], lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: put each example (longest first) in the fullest row it still fits in."""
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (tokens still free, row number), sorted
    for i in sorted(indices, key=lambda i: -lengths[i]):
        at = bisect.bisect_left(free, (lengths[i], -1))
        if at < len(free):
            room, row = free.pop(at)
        else:
            room, row = capacity, len(rows)
            rows.append([])
        rows[row].append(i)
        if room - lengths[i] > 0:
            bisect.insort(free, (room - lengths[i], row))
    return rows


def _by_budget(rows: list[list[int]], widths: list[int], budget: int) -> list[list[list[int]]]:
    """Consecutive rows into batches of at most ``budget`` tokens once padded to the widest row."""
    batches: list[list[list[int]]] = []
    widest = 0
    for row, width in zip(rows, widths, strict=True):
        if batches and (len(batches[-1]) + 1) * max(widest, width) <= budget:
            batches[-1].append(row)
            widest = max(widest, width)
        else:
            batches.append([row])
            widest = width
    return batches


def batch_tokens(batch: dict) -> tuple[int, int]:
    """(tokens the model processes, padding included; real tokens) of one batch."""
    widths = [sum(len(e["input_ids"]) for e in row) for row in batch["rows"]]
    return len(widths) * max(widths, default=0), sum(widths)


class BatchCollator:
    """Tensors for one pre-made batch (the DataLoader hands over a list holding just it).

    Padded rows get an ``attention_mask``; packed rows get ``position_ids`` that restart at every
    example, their padding tail is one more short sequence with labels IGNORE_INDEX, and the first
    label of each example is IGNORE_INDEX, so no token is ever predicted across a boundary.
    """

    def __init__(self, pad_token_id: int, *, packing: bool) -> None:
        self.pad_token_id = pad_token_id
        self.packing = packing

    def __call__(self, items: list[dict]) -> dict:
        rows = [row for item in items for row in item["rows"]]
        return self.packed(rows) if self.packing else self.padded([row[0] for row in rows])

    def padded(self, examples: list[dict]) -> dict:
        from trainers.examples import PadCollator

        return PadCollator(self.pad_token_id)(examples)

    def packed(self, rows: list[list[dict]]) -> dict:
        import torch

        width = max(sum(len(e["input_ids"]) for e in row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)  # (R, W)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        position_ids = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            at = 0
            for example in row:
                n = len(example["input_ids"])
                input_ids[r, at : at + n] = torch.tensor(example["input_ids"], dtype=torch.long)
                labels[r, at + 1 : at + n] = torch.tensor(example["labels"][1:], dtype=torch.long)
                position_ids[r, at : at + n] = torch.arange(n)
                at += n
            position_ids[r, at:] = torch.arange(width - at)  # the padding: a sequence of its own
        # use_cache=False matters: with a cache (Llama's default, even in training) transformers
        # skips the packed-sequence mask and every example would attend to the ones before it.
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids, "use_cache": False}


@dataclass(frozen=True)
class Batches:
    """What the Trainer iterates over: examples (it batches them) or batches made here."""

    train: list[dict]
    eval: list[dict]
    collator: Any
    prebatched: bool  # one dataset item is a whole batch: the Trainer's batch size is 1
    examples_per_batch: float


def prepare_batches(train_set: list[dict], eval_set: list[dict], training: Any, pad_token_id: int) -> Batches:
    """The training and eval batches the spec asks for, and the collator that makes their tensors."""
    from trainers.examples import PadCollator

    how = batching_from(training)
    if how.plain:
        return Batches(train_set, eval_set, PadCollator(pad_token_id), False, float(training.batch_size))
    train, evaluation = make_batches(train_set, how), make_batches(eval_set, how, shuffle=False)
    processed, real = (sum(counts) for counts in zip(*map(batch_tokens, train), strict=True))
    shape = " of packed rows" if how.packing else ""
    log.info(
        f"Batched {len(train_set)} training examples into {len(train)} batches{shape}; "
        f"{1 - real / max(processed, 1):.0%} of the tokens are padding"
    )
    collator = BatchCollator(pad_token_id, packing=how.packing)
    return Batches(train, evaluation, collator, True, len(train_set) / max(len(train), 1))


def check_packing_fits(model: Any, training: Any) -> None:
    """Prompt and prefix tuning put virtual tokens before every row, across the packed examples."""
    from trainers.spec import SpecError

    config = getattr(model, "active_peft_config", None)
    if training.packing and config is not None and config.is_prompt_learning:
        raise SpecError(
            "training.packing: prompt and prefix tuning add virtual tokens to each row, which packed "
            "examples would share; turn packing off (max_batch_tokens and group_by_length still work)"
        )
