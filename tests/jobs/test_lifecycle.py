"""The job lifecycle against real trainer processes (a fake trainer that needs no torch)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs import launch
from jobs.executors import registry
from jobs.lifecycle import services
from jobs.models import Artifact, Attempt, Job, MetricPoint

FAKE_PYTHON = Path(__file__).resolve().parents[1] / "support" / "fake-python"
PARAMS = {"lora": {"r": 4}, "training": {"epochs": 1}}


@pytest.fixture(autouse=True)
def _fake_trainer(settings):
    settings.HONE_TRAINER_PYTHON = str(FAKE_PYTHON)
    settings.HONE_INGEST_URL = ""


@pytest.fixture
def job(team, member, tiny_model, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        return launch.launch_training(
            team=team, user=member, name="j", base_model=tiny_model, dataset=dataset, params=PARAMS
        )


def wait_until_exited(attempt: Attempt, timeout: float = 20) -> None:
    executor = registry.current()
    deadline = time.monotonic() + timeout
    while executor.observe(attempt.job_id, attempt.number).phase in ("pending", "running"):
        assert time.monotonic() < deadline, "the trainer did not exit in time"
        time.sleep(0.05)


def run_to_end(job: Job) -> Attempt:
    attempt = services.dispatch(job.pk)
    assert attempt is not None
    wait_until_exited(attempt)
    services.reconcile()
    attempt.refresh_from_db()
    job.refresh_from_db()
    return attempt


def test_it_runs_a_job_to_success_and_records_metrics_and_artifact(job):
    attempt = run_to_end(job)
    assert (job.status, attempt.status, attempt.exit_code) == ("succeeded", "succeeded", 0)
    assert job.progress == 1.0
    assert MetricPoint.objects.filter(job=job, name="train/loss").count() == 4
    assert MetricPoint.objects.get(job=job, name="eval/loss").value == pytest.approx(0.4)
    artifact = Artifact.objects.get(job=job)
    assert artifact.kind == "adapter"
    assert artifact.location == f"runs/job-{job.pk}/output/adapter"


def test_dispatching_twice_starts_one_attempt(job):
    first = services.dispatch(job.pk)
    second = services.dispatch(job.pk)
    assert first is not None and second is None
    wait_until_exited(first)
    assert Attempt.objects.filter(job=job).count() == 1


def test_submitting_an_attempt_twice_adopts_the_first_process(job):
    attempt = services.dispatch(job.pk)
    executor = registry.current()
    first_pid = (executor.run_dir(job.pk, 1) / "pid").read_text()
    services.submit(attempt)
    assert (executor.run_dir(job.pk, 1) / "pid").read_text() == first_pid
    wait_until_exited(attempt)


def test_a_failing_trainer_is_retried_then_fails_with_its_reason(job, monkeypatch):
    monkeypatch.setenv("FAKE_TRAINER_EXIT", "1")
    Job.objects.filter(pk=job.pk).update(max_attempts=2)
    first = run_to_end(job)  # the reconciler requeues it and starts the retry at once
    assert first.status == "failed" and job.status == "starting"
    assert "fake trainer was told to fail" in first.reason
    second = job.attempts.get(number=2)
    wait_until_exited(second)
    services.reconcile()
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts.count() == 2
    assert "fake trainer was told to fail" in job.error


def test_invalid_input_exit_code_is_never_retried(job, monkeypatch):
    monkeypatch.setenv("FAKE_TRAINER_EXIT", "2")
    run_to_end(job)
    assert job.status == "failed"
    assert job.attempts.count() == 1


def test_reconciling_twice_changes_nothing(job):
    attempt = run_to_end(job)
    finished_at = attempt.finished_at
    services.reconcile()
    attempt.refresh_from_db()
    assert attempt.finished_at == finished_at
    assert MetricPoint.objects.filter(job=job).count() == 5


def test_a_preempted_attempt_requeues_the_job(job, monkeypatch):
    monkeypatch.setenv("FAKE_TRAINER_SLEEP", "30")
    attempt = services.dispatch(job.pk)
    deadline = time.monotonic() + 10
    while not attempt.events.filter(kind="log").exists() and time.monotonic() < deadline:
        services.reconcile()
        time.sleep(0.1)
    registry.current().cancel(job.pk, attempt.number)  # SIGTERM, as a node drain would
    wait_until_exited(attempt)
    services.reconcile()
    attempt.refresh_from_db()
    job.refresh_from_db()
    assert attempt.status == "preempted" and attempt.exit_code == 143
    assert job.status in ("queued", "starting")  # the reconciler may already have redispatched it


def test_cancel_stops_the_process_and_records_cancelled(job, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("FAKE_TRAINER_SLEEP", "30")
    attempt = services.dispatch(job.pk)
    services.reconcile()
    with django_capture_on_commit_callbacks(execute=False):
        assert services.cancel(job)
    services.stop_attempts(job.pk)
    wait_until_exited(attempt, timeout=10)
    services.reconcile()
    attempt.refresh_from_db()
    job.refresh_from_db()
    assert (job.status, attempt.status) == ("cancelled", "cancelled")
    assert not services.cancel(job)  # cancelling again is a no-op


def test_a_vanished_process_fails_the_attempt(job):
    attempt = services.dispatch(job.pk)
    wait_until_exited(attempt)
    (registry.current().run_dir(job.pk, 1) / "exit.json").unlink()
    services.reconcile()
    attempt.refresh_from_db()
    assert attempt.status == "failed"
    assert "disappeared" in attempt.reason


def test_one_slot_keeps_the_second_job_queued(
    job, team, member, tiny_model, dataset, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("FAKE_TRAINER_SLEEP", "30")
    with django_capture_on_commit_callbacks():
        other = launch.launch_training(
            team=team, user=member, name="k", base_model=tiny_model, dataset=dataset, params=PARAMS
        )
    first = services.dispatch(job.pk)
    assert services.dispatch(other.pk) is None
    other.refresh_from_db()
    assert other.status == "queued"
    registry.current().cancel(job.pk, first.number, force=True)


def test_every_status_change_is_recorded_once_and_announced_after_commit(job):
    from jobs.lifecycle.transitions import job_changed

    heard = []

    def listener(sender, job_id, status, **kwargs):
        heard.append(status)

    job_changed.connect(listener)
    try:
        run_to_end(job)
        services.reconcile()  # a second pass changes nothing, so records nothing
    finally:
        job_changed.disconnect(listener)
    recorded = list(job.transitions.values_list("status", flat=True))
    assert recorded == ["queued", "starting", "running", "succeeded"]
    assert heard == []  # the test's transaction never commits: nothing may be announced
