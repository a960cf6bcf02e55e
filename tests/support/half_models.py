"""Two tiny causal LMs, each fine-tuned (in process, a few seconds) on one half of a toy task, and the
text each half is: an evolved merge's fixture, where the right weights matter. Half A's sentences use
the first ten words of the tiny tokenizer's corpus, half B's the other ten."""

from __future__ import annotations

import random
from pathlib import Path

from trainers.tiny import _WORDS

HALVES = {"a": _WORDS[:10], "b": _WORDS[10:]}


def half_sentences(half: str, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(f"{half}-{seed}")
    words = HALVES[half]
    return [f"The {rng.choice(words)} is near the {rng.choice(words)}." for _ in range(n)]


def fine_tune_on_half(start: Path, out_dir: Path, half: str, steps: int = 60) -> Path:
    """``start`` fine-tuned on half ``half``'s sentences (full fine-tuning, AdamW), saved to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(start)
    model = AutoModelForCausalLM.from_pretrained(start, dtype=torch.float32)
    batch = tokenizer(half_sentences(half, 32, seed=1), return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
