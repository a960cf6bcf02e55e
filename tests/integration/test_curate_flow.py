"""A curate job end to end through the real worker and trainer: upload → curate (duplicates,
language, fit under the base model, a cluster-balanced selection) → the curated rows registered as
a dataset of the team with their lineage → a training job on that dataset."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data import storage
from jobs.data.datasets import create_dataset
from jobs.models import Artifact, Dataset, Job
from tests.conftest import jsonl_bytes
from tests.integration.test_chain import finish
from tests.integration.test_worker_flow import QUICK

pytestmark = pytest.mark.integration

GERMAN = {
    "instruction": "Beschreibe den Fluss.",
    "output": "Der Fluss fließt langsam durch das Tal und die Brücke steht seit hundert Jahren dort.",
}


def test_curate_then_train_on_the_curated_rows(live, team, member, tiny_model, demo_rows):
    rows = [*demo_rows, *demo_rows[:10], GERMAN]  # 10 exact copies and one row in German
    upload = SimpleUploadedFile("raw.jsonl", jsonl_bytes(rows))
    raw = create_dataset(team=team, user=member, name="raw", upload=upload)
    params = {
        "budget": {"keep_rows": 30},
        "dedup": {},
        "quality": {"languages": ["en"], "max_repetition": None},
        "fit": {"drop_easiest_percent": 5, "drop_hardest_percent": 5},
        "diversity": {"method": "cluster_balanced", "clusters": 4},
    }
    curated_by = finish(
        launch.launch_job(
            "curate",
            team=team,
            user=member,
            name="tidy",
            params=params,
            datasets=[("dataset", raw)],
            models=[("base", tiny_model, None)],
        )
    )
    curated = Dataset.objects.get(produced_by=curated_by)
    assert (curated.team, curated.task, curated.row_count, curated.name) == (
        team,
        "instruction",
        30,
        "tidy · curated",
    )
    assert curated.report["lineage"]["from"] == [{"id": raw.pk, "name": "raw", "role": "dataset"}]
    assert curated.report["lineage"]["settings"] == curated_by.params

    scores = Artifact.objects.get(job=curated_by, name="scores")
    table = pq.read_table(storage.resolve(scores.location)).to_pylist()
    reasons = [row["reason"] for row in table]
    counts = Counter(reasons)
    assert counts["exact_duplicate"] + counts["near_duplicate"] >= 10 and reasons[-1] == "wrong_language", (
        counts
    )
    assert counts["kept"] == 30 and {"too_easy", "too_far", "over_budget"} <= set(counts), counts
    assert all(row["fit_loss"] is not None for row in table if row["reason"] == "kept")
    kept_rows = [json.loads(line) for line in storage.resolve(curated.location).read_text().splitlines()]
    assert len(kept_rows) == 30 and GERMAN not in kept_rows

    trained = finish(
        launch.launch_training(
            team=team, user=member, name="on tidy", base_model=tiny_model, dataset=curated, params=QUICK
        )
    )
    assert trained.dataset == curated
    assert Job.objects.get(pk=curated.produced_by_id).inputs.get(role="dataset").dataset == raw
