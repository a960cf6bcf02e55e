"""Upload → job → real Celery worker → real trainer → succeeded; cancel; a killed trainer."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data import storage
from jobs.data.datasets import create_dataset
from jobs.executors import registry
from jobs.lifecycle import services
from jobs.models import Artifact, Attempt, Job, MetricPoint
from tests.conftest import jsonl_bytes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

QUICK = {"lora": {"r": 8, "alpha": 16}, "training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.003}}
LONG = {"lora": {"r": 8}, "training": {"epochs": 100, "batch_size": 4, "checkpoints_per_run": 0}}


def start(team, user, model, rows, params, **job_fields) -> Job:
    upload = SimpleUploadedFile("train.jsonl", jsonl_bytes(rows))
    dataset = create_dataset(team=team, user=user, name="toy", upload=upload)
    job = launch.launch_training(
        team=team, user=user, name="toy run", base_model=model, dataset=dataset, params=params
    )
    if job_fields:
        Job.objects.filter(pk=job.pk).update(**job_fields)
    return job


def status_of(job: Job) -> str:
    job.refresh_from_db()
    return job.status


def trainer_pid(job: Job, attempt_number: int) -> int:
    """The trainer is the launcher's child."""
    launcher = int((registry.current().run_dir(job.pk, attempt_number) / "pid").read_text())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == launcher:
            return int(stat.parent.name)
    raise AssertionError("no trainer process found")


def test_a_job_runs_to_success_through_the_worker(live, team, member, tiny_model, demo_rows):
    job = start(team, member, tiny_model, demo_rows, QUICK)
    wait_for(lambda: status_of(job) in Job.FINISHED, timeout=180, what="the job to finish")
    attempt = job.attempts.get()
    assert job.status == "succeeded", f"{job.error} / {attempt.reason}"
    assert attempt.exit_code == 0
    assert MetricPoint.objects.filter(job=job, name="train/loss").count() > 5
    assert MetricPoint.objects.filter(job=job, name="eval/loss").exists()
    adapter = Artifact.objects.get(job=job, kind="adapter")
    weights = storage.resolve(adapter.location) / "adapter_model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == adapter.sha256
    assert job.step == job.total_steps > 0


def test_cancel_kills_the_trainer_and_ends_cancelled(live, team, member, tiny_model, demo_rows):
    job = start(team, member, tiny_model, demo_rows, LONG)
    wait_for(lambda: status_of(job) == "running" and job.step > 0, timeout=120, what="training to start")
    pid = trainer_pid(job, 1)
    assert services.cancel(job)
    wait_for(
        lambda: Attempt.objects.get(job=job).status == "cancelled", timeout=60, what="the attempt to end"
    )
    assert status_of(job) == "cancelled"
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_trainer_killed_with_sigkill_fails_with_a_reason(live, team, member, tiny_model, demo_rows):
    job = start(team, member, tiny_model, demo_rows, LONG, max_attempts=1)
    wait_for(lambda: status_of(job) == "running" and job.step > 0, timeout=120, what="training to start")
    os.kill(trainer_pid(job, 1), signal.SIGKILL)
    wait_for(lambda: status_of(job) in Job.FINISHED, timeout=60, what="the job to end")
    attempt = job.attempts.get()
    assert (job.status, attempt.status, attempt.exit_code) == ("failed", "failed", 137)
    assert "SIGKILL" in attempt.reason
    assert "SIGKILL" in job.error
