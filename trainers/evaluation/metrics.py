"""Perplexity and classification metrics: the numbers an evaluation reports.

Perplexity is token-weighted: the exponential of the mean negative log-likelihood over every
scored token of every text, so a long text counts for more than a short one. A text longer than
``max_length`` is scored in sliding windows: each window starts ``stride`` tokens after the last,
sees up to ``max_length`` tokens of context, and scores only the tokens no earlier window scored.
With ``stride == max_length`` the windows do not overlap (truncated windows, fastest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

IGNORE_INDEX = -100


@dataclass
class NllTotal:
    """Summed negative log-likelihood (nats) over ``tokens`` scored tokens."""

    nll: float = 0.0
    tokens: int = 0

    def add(self, other: NllTotal) -> None:
        self.nll += other.nll
        self.tokens += other.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll / self.tokens) if self.tokens else float("nan")


def window_spans(length: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first_scored)`` per window: tokens ``first_scored..end-1`` are scored in it.

    No token is scored twice. A window's first token has no context inside the window, so with
    ``stride < max_length`` every token but the very first is scored; with ``stride == max_length``
    the first token of each window is not.
    """
    if stride < 1 or stride > max_length:
        raise ValueError(f"stride must be between 1 and max_length ({max_length}), got {stride}")
    spans, scored_until = [], 0
    for begin in range(0, length, stride):
        end = min(begin + max_length, length)
        first = max(scored_until, begin + 1)
        if first < end:
            spans.append((begin, end, first))
        scored_until = end
        if end == length:
            break
    return spans


@torch.no_grad()
def score_ids(model: Any, ids: Sequence[int], max_length: int, stride: int | None = None) -> NllTotal:
    """The summed NLL of one token sequence under a causal LM (each token given what precedes it)."""
    total = NllTotal()
    if len(ids) < 2:
        return total
    device = next(model.parameters()).device
    for begin, end, first in window_spans(len(ids), max_length, stride or max_length):
        window = torch.tensor([ids[begin:end]], device=device)
        labels = window.clone()
        labels[:, : first - begin] = IGNORE_INDEX
        logits = model(input_ids=window).logits.float()  # [1, T, vocab]
        nll = torch.nn.functional.cross_entropy(
            logits[0, :-1], labels[0, 1:], ignore_index=IGNORE_INDEX, reduction="sum"
        )
        total.add(NllTotal(nll.item(), int((labels[0, 1:] != IGNORE_INDEX).sum())))
    return total


def score_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int = 512,
    stride: int | None = None,
    add_special_tokens: bool = True,
) -> NllTotal:
    total = NllTotal()
    for text in texts:
        ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        total.add(score_ids(model, ids, max_length, stride))
    return total


def perplexity(
    model_dir: str | Path, texts: Sequence[str], *, max_length: int = 512, stride: int | None = None
) -> float:
    """Token-weighted perplexity of the causal LM in ``model_dir`` on ``texts`` (see the module doc)."""
    from trainers.evaluation.models import load_causal_lm

    model, tokenizer = load_causal_lm(Path(model_dir))
    return score_texts(model, tokenizer, texts, max_length=max_length, stride=stride).perplexity


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    if len(predictions) != len(labels) or not labels:
        raise ValueError("accuracy needs as many predictions as labels, and at least one")
    return sum(p == t for p, t in zip(predictions, labels, strict=True)) / len(labels)


def macro_f1(predictions: Sequence[str], labels: Sequence[str]) -> float:
    """The unweighted mean of per-class F1 over every class that is a label or a prediction.

    A class with no true positives has F1 0 (as scikit-learn's ``zero_division=0``).
    """
    if len(predictions) != len(labels) or not labels:
        raise ValueError("macro_f1 needs as many predictions as labels, and at least one")
    scores = []
    for cls in sorted(set(labels) | set(predictions)):
        tp = sum(p == cls and t == cls for p, t in zip(predictions, labels, strict=True))
        predicted, actual = sum(p == cls for p in predictions), sum(t == cls for t in labels)
        scores.append(2 * tp / (predicted + actual) if tp else 0.0)  # 2PR/(P+R) = 2tp/(pred+actual)
    return sum(scores) / len(scores)
