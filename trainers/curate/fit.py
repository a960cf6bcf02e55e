"""Fit: how well each row's response fits the base model, as its mean loss per response token.

After "The Best Instruction-Tuning Data are Those That Fit" (Zhang et al. 2025, GRAPE,
arXiv:2502.04194): the responses a model already finds likely train it best. GRAPE's own rule is
``best_response_per_prompt``: among rows that answer the same prompt, keep the one whose response
has the lowest loss under the base model. Hone adds a band for data with one response per prompt:
drop the easiest ``drop_easiest_percent`` of rows (the model already writes them: little to learn)
and the hardest ``drop_hardest_percent`` (too far from what it knows: noise, another language,
garbled text); keeping the middle of the loss distribution is the choice "When Less is More"
(Marion et al. 2023, arXiv:2309.04564) found best for perplexity-based pruning.

The loss is the one training sees: rows are rendered with the same chat template and the loss is
on the response tokens only (``trainers.examples``), truncated to ``max_tokens``. Cost: one forward
pass per row, about 2 × parameters × tokens FLOPs (``trainers.curate.estimate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainers.examples import (
    IGNORE_INDEX,
    TemplateMismatch,
    ensure_chat_template,
    render,
    row_messages,
    tokenize_chat,
    tokenize_text,
)
from trainers.spec import ModelRef

BATCH = 8


def messages_of(row: dict, task: str) -> list[dict]:
    if task == "preference":
        return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["chosen"]}]
    return row_messages(row, task)


def prompt_of(row: dict, task: str) -> str:
    """What the response answers: rows with the same prompt compete under the GRAPE rule."""
    if task == "text":
        return ""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages_of(row, task)[:-1])


class FitScorer:
    """The base model in float32 (on the GPU where there is one), one forward pass per batch."""

    def __init__(self, ref: ModelRef, max_tokens: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = Path(ref.path) if ref.path else ref.hub_id
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        ensure_chat_template(self.tokenizer)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval().to(self.device)
        self.max_tokens = max_tokens

    def example(self, row: dict, task: str) -> dict[str, list[int]]:
        if task == "text":
            return tokenize_text(self.tokenizer, row["text"], self.max_tokens)
        messages = messages_of(row, task)
        try:
            return tokenize_chat(self.tokenizer, messages, self.max_tokens)
        except TemplateMismatch:  # as training does: the whole conversation is the target
            return tokenize_text(self.tokenizer, render(self.tokenizer, messages), self.max_tokens)

    def losses(self, rows: Sequence[dict], task: str) -> list[float]:
        """Mean loss per response token of each row (nan where truncation left no response)."""
        examples = [self.example(row, task) for row in rows]
        order = sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))  # less padding
        out = [math.nan] * len(examples)
        for start in range(0, len(order), BATCH):
            picked = order[start : start + BATCH]
            for i, loss in zip(picked, self._batch_losses([examples[i] for i in picked]), strict=True):
                out[i] = loss
        return out

    def _batch_losses(self, examples: list[dict[str, list[int]]]) -> list[float]:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([e["input_ids"] + [pad] * (width - len(e["input_ids"])) for e in examples])
        labels = torch.tensor([e["labels"] + [IGNORE_INDEX] * (width - len(e["labels"])) for e in examples])
        lengths = torch.tensor([len(e["input_ids"]) for e in examples])
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        with torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        logits, targets = logits[:, :-1].float(), labels[:, 1:].to(self.device)
        per_token = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
        )
        counted = (targets != IGNORE_INDEX).sum(dim=1).cpu()
        sums = per_token.sum(dim=1).cpu()
        return [float(s / c) if c else math.nan for s, c in zip(sums, counted, strict=True)]


def band(losses: np.ndarray, drop_easiest: float, drop_hardest: float) -> tuple[float, float]:
    """The loss bounds that leave out the easiest and hardest shares (percent) of the rows."""
    low = float(np.percentile(losses, drop_easiest)) if drop_easiest else -math.inf
    high = float(np.percentile(losses, 100 - drop_hardest)) if drop_hardest else math.inf
    return low, high
