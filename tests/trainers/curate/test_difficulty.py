"""Difficulty (out-of-fold margins of a linear classifier) and diversity in TF-IDF space; on real text
(the Python library reference Debian ships), the two together beat a random selection."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.support.real_text import python_doc_paragraphs
from tests.trainers.curate.test_labels_diversity import accuracy
from trainers.curate.difficulty import out_of_fold_margins, tfidf_space
from trainers.spec import SpecError, parse_spec

SEA = "The tide rolled in over the harbour wall and gulls circled the fishing boats, wave {}"
BREAD = "Add two cups of flour, a pinch of salt and knead the dough for ten minutes, loaf {}"


def test_a_row_that_reads_like_another_label_has_a_negative_margin():
    texts = [SEA.format(i) for i in range(20)] + [BREAD.format(i) for i in range(20)]
    labels = ["sea"] * 20 + ["bread"] * 20
    labels[3] = "bread"  # a sea row labelled bread
    from trainers.curate.labels import tfidf_features

    margins = out_of_fold_margins(tfidf_features(texts), labels, folds=4, seed=0)
    assert margins.shape == (40,)
    assert margins[3] < 0 and np.argmin(margins) == 3
    assert (np.delete(margins, 3) > 0).all()


def test_the_difficulty_step_drops_the_hardest_share_and_records_every_margin(curate):
    rows = [{"text": SEA.format(i), "label": "sea"} for i in range(20)]
    rows += [{"text": BREAD.format(i), "label": "bread"} for i in range(20)]
    rows[5]["label"] = rows[25]["label"] = "odd"  # rows[25] reads like bread, rows[5] like sea
    rows += [{"text": f"{SEA.format(i)} and {BREAD.format(i)}", "label": "odd"} for i in range(8)]
    result = curate([rows], difficulty={"drop_hardest_percent": 5, "folds": 4})
    dropped = [i for i, reason in enumerate(result.reasons()) if reason == "hard_to_tell"]
    assert set(dropped) >= {5, 25} and len(dropped) <= 3  # 5 % of 48 rows
    assert all(row["margin"] is not None for row in result.table)
    margins = [row["margin"] for row in result.table]
    assert max(margins[i] for i in dropped) <= min(m for i, m in enumerate(margins) if i not in dropped)
    assert "reads like another label" in result.table[5]["detail"]
    assert result.summary["steps"]["difficulty"]["drop_hardest_percent"] == 5


def test_k_center_on_tfidf_keeps_the_lone_topics(curate):
    rows = [{"text": SEA.format(i)} for i in range(12)] + [
        {"text": "The parliament passed the budget bill after a long night of debate"},
        {"text": BREAD.format(0)},
    ]
    result = curate([rows], budget={"keep_rows": 3}, diversity={"features": "tfidf"})
    kept = [i for i, reason in enumerate(result.reasons()) if reason == "kept"]
    assert 12 in kept and 13 in kept and len(kept) == 3


def test_tfidf_space_is_unit_length_and_bounded_in_dimensions():
    space = tfidf_space([SEA.format(i) for i in range(30)] + [BREAD.format(i) for i in range(30)], seed=0)
    assert space.shape[0] == 60 and space.shape[1] <= 128 and space.dtype == np.float32
    assert np.allclose(np.linalg.norm(space, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"difficulty": {}, "task": "text"}, "difficulty: margins are of classification data"),
        ({"difficulty": {"drop_hardest_percent": 60, "drop_easiest_percent": 40}}, "must leave 10 %"),
        ({"diversity": {"features": "pixels"}}, "features"),
    ],
)
def test_the_spec_refuses_difficulty_and_features_it_cannot_use(change, message):
    task = change.pop("task", "classification")
    spec = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": "/tmp/out",
        "datasets": [{"path": "/tmp/in.jsonl", "sha256": "0" * 64, "format": "jsonl", "task": task}],
        "budget": {"keep_percent": 30},
        **change,
    }
    with pytest.raises(SpecError, match=message):
        parse_spec(spec)


def test_dropping_the_hardest_then_k_center_on_tfidf_beats_random_on_real_text(curate):
    """30 % of 3,000 paragraphs (bench/curate_quality.py runs 6,000 and three seeds): the curated
    selection against the job's own random sample, both scored by a linear SVM on 1,000 held-out rows."""
    rows = python_doc_paragraphs()
    random.Random(0).shuffle(rows)
    train, test = rows[:3000], rows[3000:4000]
    budget = {"keep_rows": 900}
    picked = curate([train], budget=budget, difficulty={}, diversity={"features": "tfidf"}, chunk_rows=1000)
    drawn = curate([train], budget=budget, chunk_rows=1000)
    assert len(picked.rows) == len(drawn.rows) == 900
    assert accuracy(picked.rows, test) > accuracy(drawn.rows, test) + 0.01
