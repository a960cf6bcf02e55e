"""Curate quality on real text: label problems found, and what curated or selected data trains.

Data: paragraphs of the Python library reference Debian ships (``apt-get install python3-doc``),
labelled with the chapter of their module (13 chapters; tests/support/real_text.py), shuffled with
a fixed seed and split into train and a clean held-out test set.

1. Labels: 15 % of the training labels flipped at random. The curate job (its real code path,
   ``trainers.curate.run``) with ``labels`` on: share of flips found (recall) and share of clean rows
   flagged (false alarms); then classifiers on TF-IDF (a linear SVM, logistic regression at two
   strengths, complement naive Bayes) trained on the noisy set, on the curated set (flagged rows
   dropped), on the relabelled set, and on the clean set. Selection is scored with the linear SVM.
2. Selection: 30 % of the clean training rows by the curate job's diversity selections (k-center
   greedy; cluster-balanced sampling, equal and proportional shares, on k-means clusters) on MiniLM
   embeddings, computed once with the job's embedder, against a random 30 %, each over 3 seeds, and
   the full training set.
3. Selection in the classifier's own space, each a whole curate job (``budget.keep_rows``, the seed):
   the job's random sample, k-center and proportional clusters on TF-IDF (``diversity.features:
   tfidf``), and the difficulty step (drop the 20 % of rows with the lowest out-of-fold margin) before
   a random sample or k-center on TF-IDF.

    python bench/curate_quality.py [--train 3000] [--test 1000] [--skip-labels] [--skip-selection]
        [--skip-embeddings]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.support.real_text import flip_labels, python_doc_paragraphs  # noqa: E402
from trainers.curate.run import run_curate  # noqa: E402
from trainers.events import EventEmitter  # noqa: E402
from trainers.spec import parse_spec  # noqa: E402


def classifiers() -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    return {
        "linear SVM": lambda: LinearSVC(C=1.0),
        "logistic C=4": lambda: LogisticRegression(max_iter=2000, C=4.0, solver="saga"),
        "logistic C=20": lambda: LogisticRegression(max_iter=2000, C=20.0, solver="saga"),
        "complement NB": ComplementNB,
    }


def accuracy(train: list[dict], test: list[dict], kind: str = "linear SVM") -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
    model = classifiers()[kind]()
    model.fit(vectorizer.fit_transform([r["text"] for r in train]), [r["label"] for r in train])
    predicted = model.predict(vectorizer.transform([r["text"] for r in test]))
    return float(np.mean(predicted == np.array([r["label"] for r in test])))


def curate(rows: list[dict], task: str = "classification", **params) -> tuple[list[dict], list[dict], float]:
    """(curated rows, per-row table, seconds) from one curate job over ``rows``."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        ref = {
            "path": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "format": "jsonl",
            "task": task,
        }
        spec = {
            "kind": "curate",
            "job_id": 1,
            "attempt": 1,
            "output_dir": f"{tmp}/out",
            "datasets": [ref],
            "budget": {"keep_percent": 100},
            "chunk_rows": 2000,
            **params,
        }
        started = time.perf_counter()
        run_curate(parse_spec(spec), EventEmitter(io.StringIO()))
        seconds = time.perf_counter() - started
        kept = [json.loads(line) for line in Path(f"{tmp}/out/curated.jsonl").read_text().splitlines()]
        return kept, pq.read_table(f"{tmp}/out/scores.parquet").to_pylist(), seconds


def curate_with_target(
    rows: list[dict], target: list[dict] | None, keep_percent: float, **params
) -> tuple[list[dict], float]:
    """(kept rows, seconds) of one curate job over plain-text ``rows`` with a target set."""
    with tempfile.TemporaryDirectory() as tmp:
        if target is not None:
            path = Path(tmp) / "target.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in target), encoding="utf-8")
            params["target_set"] = {
                "path": str(path),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "format": "jsonl",
                "task": "text",
            }
        kept, _table, seconds = curate(rows, budget={"keep_percent": keep_percent}, task="text", **params)
        return kept, seconds


def labels(train: list[dict], test: list[dict]) -> None:
    noisy, flipped = flip_labels(train, 0.15, seed=1)
    dropped, table, seconds = curate(noisy, labels={"action": "drop"})
    found = {i for i, row in enumerate(table) if row["reason"] == "label_issue"}
    relabelled, _, _ = curate(noisy, labels={"action": "relabel"})
    print(f"label check: {len(train)} rows, {len(flipped)} flipped, {len(found)} flagged in {seconds:.1f} s")
    print(f"  flips found (recall): {len(found & flipped) / len(flipped):.1%}")
    print(f"  false alarms (clean rows flagged): {len(found - flipped) / (len(train) - len(flipped)):.1%}")
    print(f"  precision: {len(found & flipped) / max(1, len(found)):.1%}")
    sets = (("noisy", noisy), ("dropped", dropped), ("relabelled", relabelled), ("clean", train))
    print("  held-out accuracy (TF-IDF), trained on: " + ", ".join(f"{n} ({len(r)} rows)" for n, r in sets))
    for kind in classifiers():
        print(f"  {kind:14} " + "  ".join(f"{n} {accuracy(r, test, kind):.3f}" for n, r in sets))


def embed_once(train: list[dict]) -> tuple[np.ndarray, float]:
    """MiniLM vectors of the training rows, with the curate job's own embedder: every method and
    seed below selects from these same vectors (the job computes them once per job as well)."""
    from trainers.curate.diversity import Embedder

    started = time.perf_counter()
    vectors = Embedder(None).embed([r["text"] for r in train])
    return vectors, time.perf_counter() - started


def pick(method: str, vectors: np.ndarray, k: int, seed: int) -> list[int]:
    from trainers.curate.diversity import cluster_balanced, k_center_greedy
    from trainers.spec_curate import DiversityStep

    if method == "random":
        return random.Random(seed).sample(range(len(vectors)), k)
    if method == "k-center":
        return k_center_greedy(vectors, k, seed)[0]
    share = "proportional" if method.endswith("proportional") else "equal"
    clusters = DiversityStep(method="cluster_balanced").clusters_for(k)
    return cluster_balanced(vectors, k, clusters, share, seed)[0]


METHODS = ("random", "k-center", "clusters equal", "clusters proportional")


def selection(train: list[dict], test: list[dict], seeds: int = 3, percent: float = 30) -> None:
    vectors, seconds = embed_once(train)
    k = round(len(train) * percent / 100)
    print(f"selection: {k} of {len(train)} rows; MiniLM embedding once, {seconds:.0f} s")
    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    for seed in range(seeds):
        for method in METHODS:
            scores[method].append(accuracy([train[i] for i in pick(method, vectors, k, seed)], test))
        print(f"  seed {seed}: " + ", ".join(f"{m} {scores[m][-1]:.3f}" for m in METHODS))
    full = accuracy(train, test)
    base = statistics.mean(scores["random"])
    print(f"selection {percent:g} % (linear SVM, mean ± stdev over {seeds} seeds), full data {full:.3f}:")
    for method in METHODS:
        mean, spread = statistics.mean(scores[method]), statistics.stdev(scores[method])
        low, high = min(scores[method]), max(scores[method])
        print(
            f"  {method:22} {mean:.3f} ± {spread:.3f} (min {low:.3f}, max {high:.3f}); "
            f"− random {mean - base:+.3f}; full − it {full - mean:+.3f}"
        )


HARDEST = {"difficulty": {"drop_hardest_percent": 20}}
TFIDF_K_CENTER = {"diversity": {"method": "k_center", "features": "tfidf"}}
JOB_METHODS: dict[str, dict] = {
    "random (the job's)": {},
    "k-center on TF-IDF": TFIDF_K_CENTER,
    "clusters proportional on TF-IDF": {
        "diversity": {"method": "cluster_balanced", "share": "proportional", "features": "tfidf"}
    },
    "hardest 20 % dropped, random": HARDEST,
    "hardest 20 % dropped, k-center TF-IDF": HARDEST | TFIDF_K_CENTER,
}


def job_selection(train: list[dict], test: list[dict], seeds: int = 3, percent: float = 30) -> None:
    """Each method as one curate job per seed, the kept rows scored with the linear SVM."""
    k = round(len(train) * percent / 100)
    scores: dict[str, list[float]] = {m: [] for m in JOB_METHODS}
    seconds: dict[str, float] = dict.fromkeys(JOB_METHODS, 0.0)
    for seed in range(seeds):
        for method, steps in JOB_METHODS.items():
            kept, _table, took = curate(train, budget={"keep_rows": k}, seed=seed, **steps)
            scores[method].append(accuracy(kept, test))
            seconds[method] += took
        print(f"  seed {seed}: " + ", ".join(f"{m} {scores[m][-1]:.3f}" for m in JOB_METHODS), flush=True)
    full, base = accuracy(train, test), statistics.mean(scores["random (the job's)"])
    print(f"job selection {percent:g} % ({k} rows; linear SVM, mean ± stdev), full data {full:.3f}:")
    for method in JOB_METHODS:
        mean, spread = statistics.mean(scores[method]), statistics.stdev(scores[method])
        print(
            f"  {method:40} {' '.join(f'{v:.3f}' for v in scores[method])}  {mean:.3f} ± {spread:.3f}; "
            f"− random {mean - base:+.3f}; full − it {full - mean:+.3f}; {seconds[method] / seeds:.1f} s/job"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--skip-selection", action="store_true")
    parser.add_argument("--skip-labels", action="store_true")
    parser.add_argument("--skip-embeddings", action="store_true", help="only the TF-IDF job selections")
    args = parser.parse_args()
    rows = python_doc_paragraphs()
    random.Random(0).shuffle(rows)
    train, test = rows[: args.train], rows[args.train : args.train + args.test]
    if not args.skip_labels:
        labels(train, test)
    if not args.skip_selection:
        if not args.skip_embeddings:
            selection(train, test)
        job_selection(train, test)


if __name__ == "__main__":
    main()
