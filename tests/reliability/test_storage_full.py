"""Storage full: a clear failure, and no corrupt artifact or half-stored dataset registered."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data.datasets import DatasetRejected, create_dataset
from jobs.lifecycle import services
from jobs.models import Artifact, Dataset, ModelAsset
from tests.conftest import jsonl_bytes
from tests.reliability.test_event_delivery import finished
from tests.support.waiting import wait_for

SMALL_DISK = Path(__file__).resolve().parents[1] / "support" / "small-disk-python"


def test_a_trainer_that_cannot_write_its_output_fails_clearly_and_registers_nothing(
    settings, monkeypatch, team, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    settings.HONE_TRAINER_PYTHON = str(SMALL_DISK)
    settings.HONE_INGEST_URL = ""
    settings.HONE_MAX_ATTEMPTS = 1
    monkeypatch.setenv("HONE_REAL_PYTHON", sys.executable)
    monkeypatch.setenv("SMALL_DISK_KB", "48")
    params = {"lora": {"r": 64}, "training": {"epochs": 0.25, "checkpoints_per_run": 0}}  # it fails saving
    with django_capture_on_commit_callbacks():
        job = launch.launch_training(
            team=team, user=member, name="full", base_model=tiny_model, dataset=dataset, params=params
        )
    services.dispatch(job.pk)
    wait_for(lambda: finished(job), timeout=120, what="the job to end")
    assert job.status == "failed"
    assert "File too large" in job.error
    assert not Artifact.objects.filter(job=job).exists()
    assert not ModelAsset.objects.filter(produced_by=job).exists()


def test_an_upload_onto_a_full_volume_is_refused_and_leaves_nothing(team, member, demo_rows, _storage):
    upload = SimpleUploadedFile("big.jsonl", jsonl_bytes(demo_rows * 20))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # Any file this process writes past 16 KiB fails, as on a full volume; only around the upload,
    # so that pytest's own output capture is not limited.
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, hard))
    try:
        with pytest.raises(DatasetRejected) as refused:
            create_dataset(team=team, user=member, name="big", upload=upload)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert "could not store the file (File too large); nothing was stored" in str(refused.value)
    assert not Dataset.objects.exists()
    assert not any(p.is_file() for p in _storage.rglob("*"))
