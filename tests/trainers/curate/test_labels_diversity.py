"""Label problems (cleanlab on cross-validated predictions) and diversity selection (k-center greedy
on MiniLM embeddings). The label check runs on real text no test was tuned to: paragraphs of the
Python library reference Debian ships (python3-doc; ``scripts/install-test-data``), 15 % of the
training labels flipped on purpose."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.support.real_text import flip_labels, python_doc_paragraphs
from trainers.curate.diversity import cluster_balanced, k_center_greedy


def accuracy(train: list[dict], test: list[dict]) -> float:
    """Held-out accuracy of a linear SVM on TF-IDF. A strongly regularised logistic regression or
    naive Bayes shrugs 15 % random flips off and gains nothing from curation (bench/curate_quality.py
    and docs/benchmarks.md have all four); the SVM, like most models that fit their data, does."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
    model = LinearSVC(C=1.0)
    model.fit(vectorizer.fit_transform([r["text"] for r in train]), [r["label"] for r in train])
    predicted = model.predict(vectorizer.transform([r["text"] for r in test]))
    return float(np.mean(predicted == np.array([r["label"] for r in test])))


@pytest.fixture(scope="module")
def python_docs() -> tuple[list[dict], list[dict]]:
    rows = python_doc_paragraphs()
    random.Random(0).shuffle(rows)
    return rows[:3000], rows[3000:4000]


def test_flipped_labels_in_real_text_are_found_and_dropping_them_trains_better(curate, python_docs):
    train, test = python_docs
    noisy, flipped = flip_labels(train, 0.15, seed=1)
    result = curate([noisy], labels={"action": "drop"}, chunk_rows=1000)
    found = {i for i, row in enumerate(result.table) if row["reason"] == "label_issue"}
    recall = len(found & flipped) / len(flipped)
    false_alarms = len(found - flipped) / (len(train) - len(flipped))
    assert recall >= 0.70, (recall, false_alarms)
    assert false_alarms <= 0.10, (recall, false_alarms)
    assert accuracy(result.rows, test) > accuracy(noisy, test)


TOPICS = {
    "cats": "The cat curled up on the warm windowsill and purred while the kitten chased a ball of yarn",
    "stocks": "Shares fell sharply after the central bank raised interest rates and bond yields climbed",
}


def two_topics(flips: set[int]) -> list[dict]:
    rows = []
    for i in range(40):
        topic = "cats" if i % 2 else "stocks"
        label = ("stocks" if topic == "cats" else "cats") if i in flips else topic
        rows.append({"text": f"{TOPICS[topic]} (note {i}, variant {i * 13 % 17})", "label": label})
    return rows


@pytest.mark.parametrize(("action", "reason"), [("relabel", "relabelled"), ("list", "label_suspect")])
def test_suspected_labels_can_be_relabelled_or_only_listed(curate, action, reason):
    result = curate([two_topics({3, 8})], labels={"action": action, "folds": 4})
    assert [i for i, r in enumerate(result.reasons()) if r != "kept"] == [3, 8]
    assert len(result.rows) == 40  # nothing dropped
    assert result.table[3]["suggested_label"] == "cats" and result.table[3]["label"] == "stocks"
    expected = "cats" if action == "relabel" else "stocks"
    assert result.rows[3]["label"] == expected and result.reasons()[3] == reason


def test_a_label_too_rare_for_the_folds_is_refused_naming_it(curate):
    from trainers.formats import DataError

    rows = two_topics(set())[:10] + [{"text": "a lone odd row", "label": "odd"}]
    with pytest.raises(DataError, match="label\\(s\\) odd have fewer rows than the 5 folds"):
        curate([rows], labels={})


def test_k_center_greedy_covers_every_cluster_before_repeating_one():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]  # three far-apart directions; the first cluster has 50 rows, the others 3
    points = np.concatenate(
        [centres[0] + 0.01 * rng.normal(size=(50, 8))]
        + [c + 0.01 * rng.normal(size=(3, 8)) for c in centres[1:]]
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    picks, gaps = k_center_greedy(points, 3, seed=0)
    assert sorted({0 if p < 50 else 1 if p < 53 else 2 for p in picks}) == [0, 1, 2]
    assert gaps[0] == 0 and gaps[1] >= gaps[2] > 0.5


def test_diversity_selection_keeps_a_spread_of_topics_with_minilm(curate):
    sea = [
        f"The tide rolled in over the harbour wall, wave {i}, and gulls circled the boats" for i in range(12)
    ]
    rows = [{"text": t} for t in sea] + [
        {"text": "Add two cups of flour, a pinch of salt and knead the dough for ten minutes"},
        {"text": "The parliament passed the budget bill after a long night of debate"},
    ]
    result = curate([rows], budget={"keep_rows": 3}, diversity={})
    kept = [i for i, r in enumerate(result.reasons()) if r == "kept"]
    assert 12 in kept and 13 in kept and len(kept) == 3  # both lone topics, one of the twelve sea rows
    assert result.reasons().count("over_budget") == 11
    assert all(result.table[i]["pick_distance"] is not None for i in kept)


def test_cluster_balanced_takes_an_equal_share_of_each_cluster_however_big():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]  # clusters of 60, 20 and 4 rows
    points = np.concatenate(
        [c + 0.01 * rng.normal(size=(n, 8)) for c, n in zip(centres, (60, 20, 4), strict=True)]
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    which = np.repeat([0, 1, 2], (60, 20, 4))
    picks, assigned = cluster_balanced(points, 18, clusters=3, share="equal", seed=0)
    assert len(set(picks)) == 18 and len(set(assigned.tolist())) == 3
    # the 4-row cluster gives all it has, the other two share the rest equally
    assert sorted(np.bincount(which[picks]).tolist()) == [4, 7, 7]
    picks, _ = cluster_balanced(points, 21, clusters=3, share="proportional", seed=0)
    assert np.bincount(which[picks]).tolist() == [15, 5, 1]


def test_cluster_balanced_selection_in_a_job_records_each_rows_cluster(curate):
    rows = [
        {"text": f"The tide rolled in over the harbour wall, wave {i}, and gulls circled"} for i in range(8)
    ]
    rows += [{"text": f"Add {i} cups of flour, a pinch of salt and knead the dough"} for i in range(8)]
    result = curate([rows], budget={"keep_rows": 4}, diversity={"method": "cluster_balanced", "clusters": 2})
    kept = [i for i, r in enumerate(result.reasons()) if r == "kept"]
    assert len(kept) == 4 and sum(i < 8 for i in kept) == 2  # two from each topic
    assert {row["cluster"] for row in result.table} == {0, 1}
    assert result.summary["steps"]["diversity"]["method"] == "cluster_balanced"
