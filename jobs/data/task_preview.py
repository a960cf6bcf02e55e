"""Rows of preference and classification data as their trainers read them, and the label counts.

Preference rows: TRL's preference trainers take untemplated prompt / chosen / rejected text, join
the prompt and each answer into one string (eos added) and learn from the answer's tokens; the
preview decodes exactly those ids. Classification rows: the text as the tokenizer encodes it
(an encoder's [CLS] … [SEP]), and its label. Labels are numbered as the trainer numbers them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from jobs.data import preview
from jobs.models import Dataset


@dataclass
class Answer:
    side: str  # "chosen" or "rejected"
    text: str  # the answer's tokens decoded: what the loss is computed on
    tokens: int  # prompt and answer together
    truncated: bool


@dataclass
class PreferenceRow:
    number: int
    prompt: str  # the prompt's tokens decoded, special tokens included
    answers: list[Answer]


def preference_row(tokenizer, row: dict, number: int, max_length: int) -> PreferenceRow:
    answers, prompt = [], None
    for side in ("chosen", "rejected"):
        prompt_ids, answer_ids = preview.preference_split(tokenizer, row, side)
        prompt = prompt_ids if prompt is None or len(prompt_ids) < len(prompt) else prompt
        tokens = len(prompt_ids) + len(answer_ids)
        answers.append(Answer(side, tokenizer.decode(answer_ids), tokens, tokens > max_length))
    return PreferenceRow(number, tokenizer.decode(prompt or []), answers)


@dataclass
class ClassifiedRow:
    number: int
    text: str  # the encoded text decoded back, special tokens included
    label: str
    tokens: int
    truncated: bool


def classified_row(tokenizer, row: dict, number: int, max_length: int) -> ClassifiedRow:
    ids = tokenizer(row["text"])["input_ids"]
    return ClassifiedRow(
        number, tokenizer.decode(ids[:max_length]), str(row["label"]), len(ids), len(ids) > max_length
    )


def ordered_labels(values: set) -> list[str]:
    """Labels in the trainer's order: numerically if every label is a number, else as text."""
    ordered = sorted(values) if all(isinstance(v, int) for v in values) else sorted(values, key=str)
    return list(dict.fromkeys(str(v) for v in ordered))


@dataclass
class LabelCount:
    label: str
    count: int
    share: float  # percent of the rows counted


def label_counts(dataset: Dataset, limit: int = preview.SAMPLE_ROWS) -> tuple[list[LabelCount], int]:
    """How many of the first ``limit`` rows carry each label, in the trainer's label order; and
    how many rows were counted."""
    rows = preview.read_rows(dataset, limit)
    found = Counter(row["label"] for row in rows)
    by_text = Counter({str(k): v for k, v in found.items()})
    total = sum(found.values()) or 1
    return [
        LabelCount(name, by_text[name], 100 * by_text[name] / total) for name in ordered_labels(set(found))
    ], len(rows)


def rendered(dataset: Dataset, tokenizer, max_length: int) -> dict:
    """The first rows of a preference or classification dataset, and the label counts."""
    rows = preview.read_rows(dataset, preview.PREVIEW_ROWS)
    if dataset.task == "preference":
        return {
            "preference_rows": [preference_row(tokenizer, r, i + 1, max_length) for i, r in enumerate(rows)]
        }
    labels, counted = label_counts(dataset)
    return {
        "classified_rows": [classified_row(tokenizer, r, i + 1, max_length) for i, r in enumerate(rows)],
        "label_counts": labels,
        "labels_counted": counted,
    }
