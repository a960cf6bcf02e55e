"""Difficulty of classification rows: each row's out-of-fold margin under a linear classifier.

A linear SVM on TF-IDF words and word pairs is trained ``folds`` times, each time scoring the rows it
did not see; a row's margin is the score of its own label minus the best score of any other label
(negative: the model would call it something else). The rows hardest to tell (lowest margin) are
the ambiguous, off-topic and mislabelled ones; at a small budget a classifier trains better without
them (Sorscher et al. 2022, "Beyond neural scaling laws": with little data keep the easier rows).
bench/curate_quality.py: dropping the hardest 20 % and spreading the rest with k-center greedy over
TF-IDF beats a random 30 % on every seed (docs/benchmarks.md "Curate").

``tfidf_space`` gives the rows' TF-IDF vectors reduced to ``dims`` dimensions (latent semantic
analysis), unit length: the diversity selections' space when ``diversity.features`` is "tfidf".
"""

from __future__ import annotations

import numpy as np

from trainers.curate.labels import FeatureMatrix, check_labels

TFIDF_DIMS = 128


def out_of_fold_margins(features: FeatureMatrix, labels: list, folds: int, seed: int) -> np.ndarray:
    """(rows,) own-label score minus the best other label's, each from a model that did not see it."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    _classes, y = check_labels(labels, folds)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32 - 1))
    scores = cross_val_predict(LinearSVC(C=1.0), features, y, cv=splits, method="decision_function")
    if scores.ndim == 1:  # two labels: one score, positive for the second
        scores = np.stack([-scores, scores], axis=1)
    own = scores[np.arange(len(y)), y]
    others = scores.copy()
    others[np.arange(len(y)), y] = -np.inf
    return own - others.max(axis=1)


def tfidf_space(texts: list[str], seed: int, dims: int = TFIDF_DIMS) -> np.ndarray:
    """(rows, ≤ dims) float32 unit vectors: TF-IDF of words and word pairs, then truncated SVD."""
    from sklearn.decomposition import TruncatedSVD

    from trainers.curate.labels import tfidf_features

    features = tfidf_features(texts)
    dims = min(dims, features.shape[1] - 1, len(texts) - 1)
    if dims < 1:
        return np.ones((len(texts), 1), dtype=np.float32)
    reduced = TruncatedSVD(dims, random_state=seed % (2**32 - 1)).fit_transform(features)
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    return (reduced / np.maximum(norms, 1e-12)).astype(np.float32)
