"""A small Llama with real trained weights: its own BPE tokenizer and next-token training from
scratch on paragraphs of the Python library reference Debian ships (python3-doc, installed by
``scripts/install-test-data``; tests/support/real_text.py). Used where quantization quality must be
measured on weights that learned real text (bench/quant_mixed.py, the slow quantization tests).
Built once per shape and kept, since training takes minutes on a CPU.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from tests.support.real_text import python_doc_paragraphs

HELD_OUT = 400  # paragraphs the model never trains on


def doc_texts(seed: int = 0) -> tuple[list[str], list[str]]:
    """(training paragraphs, held-out paragraphs), shuffled with ``seed``."""
    texts = [row["text"] for row in python_doc_paragraphs()]
    random.Random(seed).shuffle(texts)
    return texts[HELD_OUT:], texts[:HELD_OUT]


def doc_model(out: Path, hidden: int, layers: int, steps: int) -> Path:
    """The trained model directory (built at ``out`` unless it is already there)."""
    from tests.trainers.quantize.conftest import train_tiny
    from trainers.tiny import build_tiny_llama

    if (out / "model.safetensors").is_file():
        return out
    train, _held_out = doc_texts()
    partial = out.with_name(out.name + ".partial")
    build_tiny_llama(
        partial, corpus=train[:3000], vocab_size=2048, hidden_size=hidden, layers=layers, init_range=0.02
    )
    train_tiny(partial, train, steps=steps, seq_len=96, batch=16)
    partial.rename(out)
    return out


def token_windows(tokenizer, texts: list[str], count: int, seq_len: int) -> list[torch.Tensor]:
    """``count`` windows of ``seq_len`` tokens from ``texts`` joined with eos: calibration data."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        if len(stream) >= count * seq_len:
            break
    return [torch.tensor([stream[i * seq_len : (i + 1) * seq_len]]) for i in range(count)]
