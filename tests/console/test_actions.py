"""Operator actions: each changes what it says and writes one audit entry; a refused one
changes nothing and records nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import AuditLog
from jobs.lifecycle import transitions
from jobs.models import Attempt, ComputeProfile, Job
from tests.console.helpers import gpu_profile, queued_job


def only_entry(action: str) -> AuditLog:
    entries = list(AuditLog.objects.all())
    assert [e.action for e in entries] == [action]
    return entries[0]


@pytest.fixture
def job(team):
    return queued_job(team, profile=gpu_profile())


@pytest.fixture
def stopped(monkeypatch) -> list[int]:
    """Job ids whose trainers the worker was asked to stop (after commit)."""
    from jobs.tasks import stop_attempts

    asked: list[int] = []
    monkeypatch.setattr(stop_attempts, "delay", asked.append)
    return asked


def test_cancel_cancels_and_is_audited(
    operator_client, operator, job, stopped, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/console/jobs/{job.pk}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert stopped == [job.pk]
    entry = only_entry("job.cancel")
    assert (entry.who, entry.who_name) == (operator, "operator")
    assert (entry.target_type, entry.target_id, entry.target) == ("job", str(job.pk), f"#{job.pk} job")
    assert entry.details == {"was": "queued", "team": "acme"}


def test_cancelling_an_ended_job_is_refused_and_not_audited(operator_client, job):
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    response = operator_client.post(f"/console/jobs/{job.pk}/cancel/", follow=True)
    assert "has already ended (succeeded)" in response.content.decode()
    assert not AuditLog.objects.exists()


def test_priority_changes_and_is_audited(operator_client, job):
    operator_client.post(f"/console/jobs/{job.pk}/priority/", {"priority": "25"})
    job.refresh_from_db()
    assert job.priority == 25
    assert only_entry("job.priority").details == {"from": 0, "to": 25}


@pytest.mark.parametrize("value", ["high", "5000"])
def test_a_bad_priority_is_refused(operator_client, job, value):
    response = operator_client.post(f"/console/jobs/{job.pk}/priority/", {"priority": value}, follow=True)
    assert "priority must be" in response.content.decode()
    job.refresh_from_db()
    assert job.priority == 0
    assert not AuditLog.objects.exists()


def test_requeue_puts_a_failed_job_back_with_fresh_retries(
    operator_client, job, monkeypatch, django_capture_on_commit_callbacks
):
    from jobs.tasks import dispatch_job

    dispatched: list[int] = []
    monkeypatch.setattr(dispatch_job, "delay", dispatched.append)
    Attempt.objects.create(job=job, number=1, executor="local", status="failed", finished_at=timezone.now())
    Job.objects.filter(pk=job.pk).update(status="failed", error="node went away", finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/console/jobs/{job.pk}/requeue/")
    assert dispatched == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.error, job.finished_at, job.max_attempts) == ("queued", "", None, 1 + 3)
    assert list(job.transitions.values_list("status", flat=True))[-1] == "queued"
    entry = only_entry("job.requeue")
    assert entry.details == {"was": "failed", "error": "node went away"}


def test_requeue_stops_a_running_job_as_a_preemption(
    operator_client, job, stopped, django_capture_on_commit_callbacks
):
    transitions.move(job.pk, to="running", expected="queued")
    Attempt.objects.create(job=job, number=1, executor="local", status="running", started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/console/jobs/{job.pk}/requeue/", follow=True)
    assert "goes back in the queue once its trainer has saved a checkpoint" in response.content.decode()
    assert stopped == [job.pk]  # SIGTERM: it checkpoints, exits 143, and the reconciler requeues it
    job.refresh_from_db()
    assert job.status == "running"
    assert only_entry("job.requeue").details == {"was": "running"}


def test_requeue_refuses_a_succeeded_job(operator_client, job):
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    response = operator_client.post(f"/console/jobs/{job.pk}/requeue/", follow=True)
    assert "only starting, running or failed jobs can be requeued" in response.content.decode()
    assert not AuditLog.objects.exists()


def test_hold_and_resume_a_profile_are_audited(operator_client):
    profile = gpu_profile()
    operator_client.post(f"/console/profiles/{profile.pk}/hold/")
    profile.refresh_from_db()
    assert profile.is_held
    operator_client.post(f"/console/profiles/{profile.pk}/hold/")  # already held: nothing to record
    operator_client.post(f"/console/profiles/{profile.pk}/resume/")
    profile.refresh_from_db()
    assert not profile.is_held
    actions = list(AuditLog.objects.order_by("pk").values_list("action", "target"))
    assert actions == [("profile.hold", "gpu"), ("profile.resume", "gpu")]


def test_drain_holds_every_profile_and_lets_running_attempts_finish(operator_client, job):
    gpu_profile("other", is_held=True)
    transitions.move(job.pk, to="running", expected="queued")
    running = Attempt.objects.create(job=job, number=1, executor="local", status="running")
    response = operator_client.post("/console/drain/", follow=True)
    assert "Draining: 2 profile(s) put on hold" in response.content.decode()
    assert not ComputeProfile.objects.filter(is_held=False).exists()
    running.refresh_from_db()
    assert running.status == "running"
    assert only_entry("console.drain").details == {"held": ["gpu", "local"], "running": 1}
    operator_client.post("/console/resume-all/")
    assert not ComputeProfile.objects.filter(is_held=True).exists()
    resumed = AuditLog.objects.get(action="console.resume_all")
    assert resumed.details == {"resumed": ["gpu", "local", "other"]}


def test_actions_go_back_to_a_local_page_only(operator_client, job):
    url = f"/console/jobs/{job.pk}/priority/"
    assert operator_client.post(url, {"priority": "1", "next": "/console/usage/"}).url == "/console/usage/"
    assert operator_client.post(url, {"priority": "2", "next": "https://evil.example/"}).url == "/console/"


def test_the_queue_page_shows_pending_jobs_with_place_and_reason(operator_client, team, other_team):
    held = gpu_profile("held-gpu", is_held=True)
    queued_job(team, profile=held, name="waits on hold", age=timedelta(minutes=5))
    queued_job(other_team, name="local job")
    page = operator_client.get("/console/").content.decode()
    assert "held-gpu" in page and "on hold" in page
    assert "waiting: compute profile held-gpu is on hold" in page
    assert "1 of 2" in page and "2 of 2" in page
    assert "local job" in page and "next to start" in page
