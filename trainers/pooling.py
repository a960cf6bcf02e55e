"""How an encoder turns token states into one vector per text, as it was trained to.

A sentence-transformers checkpoint (all-MiniLM-L6-v2 and the like) says how it pools in
``modules.json`` and its Pooling module's ``config.json``: MiniLM was trained on mean-pooled
embeddings, so a classifier on it learns best from the mean of its token states, not from the
[CLS] pooler that ``AutoModelForSequenceClassification`` uses (docs/presets.md has the numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

POOLING_MODULE = "sentence_transformers.models.Pooling"
MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
         "pooling_mode_max_tokens": "max"}


def declared_pooling(model_dir: str | Path | None) -> str | None:
    """The pooling a sentence-transformers checkpoint declares ("mean", "cls" or "max"), or None
    when the directory is not one (a plain transformers model, a hub id) or declares none of these."""
    if model_dir is None:
        return None
    root = Path(model_dir)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        pooling = next(m for m in modules if m.get("type") == POOLING_MODULE)
        config_path = root / pooling.get("path", "1_Pooling") / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, AttributeError, TypeError):
        return None
    return next((mode for key, mode in MODES.items() if config.get(key)), None)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, tokens, hidden) states and their (batch, tokens) mask -> (batch, hidden)."""
    if mode == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, tokens, 1)
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    if mode == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {mode!r}; known: cls, mean, max")
