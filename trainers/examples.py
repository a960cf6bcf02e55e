"""Rows to training examples for causal LMs: token ids plus labels, loss only where we want it.

Instruction rows become a two-turn chat and every chat is rendered with the tokenizer's chat
template (or ``FALLBACK_CHAT_TEMPLATE`` when the base model has none), so training sees exactly
the prompt format the playground and inference use. Labels are -100 on everything the model
is given (system and user turns, role markers) and the token ids on what it must produce (the
assistant turns, with eos), so the loss is only on the responses. Plain text trains on every token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("trainers")

IGNORE_INDEX = -100  # the label value torch's cross-entropy skips

# Alpaca-style, for base models without a template. An assistant turn ends with eos and nothing
# after it, and the generation prompt is exactly the text before an assistant turn's content.
FALLBACK_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}### Response:\n{{ message['content'] }}"
    "{% if eos_token %}{{ eos_token }}{% endif %}"
    "{% elif message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% else %}### Instruction:\n{{ message['content'] }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Response:\n{% endif %}"
)


class TemplateMismatch(ValueError):
    """The chat template renders a conversation's prefix differently from the whole conversation."""


@dataclass
class ExampleStats:
    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_no_target: int = 0
    whole_text_fallback: int = 0
    notes: list[str] = field(default_factory=list)


def instruction_messages(row: dict) -> list[dict]:
    """An alpaca-style row as a chat: the instruction (and its input, if any) asks, the output answers."""
    prompt = row["instruction"]
    if row.get("input"):
        prompt = f"{prompt}\n\n{row['input']}"
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]


def ensure_chat_template(tokenizer: Any) -> None:
    """Give a template-less tokenizer the fallback template, and a pad token if it has none."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token_id is None:
        # Padding is masked out of attention and labels, so any id works; eos is always there.
        tokenizer.pad_token = tokenizer.eos_token


def render(tokenizer: Any, messages: Sequence[dict], *, generation_prompt: bool = False) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=generation_prompt
    )


def chat_segments(tokenizer: Any, messages: Sequence[dict]) -> list[tuple[str, bool]]:
    """Split a rendered conversation into (text, is_target) pieces, in order.

    Rendering each prefix of the conversation and taking differences keeps whatever markup the
    template adds; an assistant turn's target is what follows its generation prompt.
    """
    segments: list[tuple[str, bool]] = []
    done = ""
    for i, message in enumerate(messages):
        upto = render(tokenizer, messages[: i + 1])
        if message["role"] == "assistant":
            prompt = render(tokenizer, messages[:i], generation_prompt=True)
            if not (prompt.startswith(done) and upto.startswith(prompt)):
                raise TemplateMismatch("chat template is not prefix-stable")
            segments += [(prompt[len(done):], False), (upto[len(prompt):], True)]
        else:
            if not upto.startswith(done):
                raise TemplateMismatch("chat template is not prefix-stable")
            segments.append((upto[len(done):], False))
        done = upto
    return [(text, target) for text, target in segments if text]


def tokenize_chat(tokenizer: Any, messages: Sequence[dict], max_length: int) -> dict[str, list[int]]:
    """Token ids and labels for a conversation; labels are IGNORE_INDEX outside assistant turns.

    Pieces are tokenized separately so a prompt tokenizes exactly as it will at inference, where
    the model continues from the generation prompt. ``add_special_tokens=False`` because templates
    write bos themselves.
    """
    input_ids: list[int] = []
    labels: list[int] = []
    for text, is_target in chat_segments(tokenizer, messages):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if is_target and tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
            ids = [*ids, tokenizer.eos_token_id]  # the model must learn where an answer stops
        input_ids += ids
        labels += ids if is_target else [IGNORE_INDEX] * len(ids)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


def tokenize_text(tokenizer: Any, text: str, max_length: int) -> dict[str, list[int]]:
    """Token ids for plain text with eos appended; every token is a target."""
    ids = tokenizer(text)["input_ids"]
    if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids = [*ids, tokenizer.eos_token_id]
    ids = ids[:max_length]
    return {"input_ids": ids, "labels": list(ids)}


def row_messages(row: dict, task: str) -> list[dict]:
    return instruction_messages(row) if task == "instruction" else row["messages"]


def _tokenize_row(tokenizer: Any, row: dict, task: str, max_length: int, stats: ExampleStats) -> dict:
    if task == "text":
        return tokenize_text(tokenizer, row["text"], max_length + 1)
    messages = row_messages(row, task)
    try:
        return tokenize_chat(tokenizer, messages, max_length + 1)
    except TemplateMismatch:
        # Some templates render earlier turns differently (e.g. they drop reasoning); train on the
        # whole conversation rather than refuse the row.
        stats.whole_text_fallback += 1
        return tokenize_text(tokenizer, render(tokenizer, messages), max_length + 1)


def build_examples(
    tokenizer: Any, rows: Sequence[dict], task: str, max_length: int
) -> tuple[list[dict], ExampleStats]:
    """Tokenize rows, truncating to ``max_length`` and dropping rows with nothing left to learn."""
    stats = ExampleStats(rows=len(rows))
    examples = []
    for row in rows:
        # One token past the limit tells us whether truncation happened.
        example = _tokenize_row(tokenizer, row, task, max_length, stats)
        if len(example["input_ids"]) > max_length:
            stats.truncated += 1
            example = {key: values[:max_length] for key, values in example.items()}
        if all(label == IGNORE_INDEX for label in example["labels"]):
            stats.dropped_no_target += 1
            continue
        examples.append(example)
    stats.kept = len(examples)
    if stats.truncated:
        stats.notes.append(
            f"{stats.truncated} of {stats.rows} rows were cut to max_seq_length={max_length} tokens"
        )
    if stats.dropped_no_target:
        stats.notes.append(
            f"{stats.dropped_no_target} rows were skipped: no assistant reply fits in "
            f"max_seq_length={max_length} tokens"
        )
    if stats.whole_text_fallback:
        stats.notes.append(
            f"{stats.whole_text_fallback} conversations could not be split by the chat template; "
            "they train on the whole text"
        )
    return examples, stats


class PadCollator:
    """Right-pads a batch: input_ids with the pad id, labels with IGNORE_INDEX, attention 0 on padding."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(example["input_ids"]) for example in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)  # (B, T)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, example in enumerate(batch):
            n = len(example["input_ids"])
            input_ids[i, :n] = torch.tensor(example["input_ids"], dtype=torch.long)
            labels[i, :n] = torch.tensor(example["labels"], dtype=torch.long)
            attention_mask[i, :n] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
