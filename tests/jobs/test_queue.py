"""The queue: order (priority, fair share, age), quotas enforced at dispatch with their reasons,
held profiles, and dispatchers racing against PostgreSQL."""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs.executors import registry
from jobs.lifecycle import queue, services
from jobs.models import Attempt, ComputeProfile, Job
from tests.console.helpers import FAKE_PYTHON, gpu_profile, past_usage, queued_job


@pytest.fixture(autouse=True)
def _fake_trainer(settings, monkeypatch):
    settings.HONE_TRAINER_PYTHON = str(FAKE_PYTHON)
    settings.HONE_INGEST_URL = ""
    monkeypatch.setenv("FAKE_TRAINER_SLEEP", "30")  # started trainers stay live until stopped


@pytest.fixture
def stop_trainers():
    yield
    executor = registry.current()
    for job_id, number in Attempt.objects.filter(status__in=Attempt.LIVE).values_list("job_id", "number"):
        executor.cancel(job_id, number, force=True)


def oldest_first(count: int, team, **fields) -> list[Job]:
    ages = [timedelta(minutes=count - i) for i in range(count)]
    return [queued_job(team, age=age, name=f"job-{i}", **fields) for i, age in enumerate(ages)]


def order(verdicts) -> list[str]:
    return [v.job.name for v in verdicts]


# --- order ---------------------------------------------------------------------------


def test_the_team_with_less_recent_usage_goes_first(team, other_team):
    past_usage(team, hours=5, gpus=2)
    past_usage(other_team, hours=1, gpus=2)
    queued_job(team, name="busy team, older", age=timedelta(hours=1))
    queued_job(other_team, name="quiet team, newer")
    assert order(queue.plan()) == ["quiet team, newer", "busy team, older"]


def test_fair_share_weighs_gpus_not_just_time(team, other_team):
    past_usage(team, hours=1, gpus=8)  # 8 GPU-hours
    past_usage(other_team, hours=4, gpus=1)  # 4 GPU-hours, but longer
    queued_job(team, name="eight gpus", age=timedelta(hours=1))
    queued_job(other_team, name="one gpu")
    assert order(queue.plan()) == ["one gpu", "eight gpus"]


def test_usage_older_than_the_fair_share_window_does_not_count(team, other_team):
    past_usage(team, hours=50, ended=timezone.now() - queue.FAIR_SHARE_WINDOW - timedelta(hours=1))
    past_usage(other_team, hours=1)
    queued_job(other_team, name="recent user", age=timedelta(hours=1))
    queued_job(team, name="long ago user")
    assert order(queue.plan()) == ["long ago user", "recent user"]


def test_priority_beats_fair_share(team, other_team):
    past_usage(team, hours=10)
    queued_job(other_team, name="quiet team", age=timedelta(hours=2))
    queued_job(team, name="urgent", priority=5)
    assert order(queue.plan()) == ["urgent", "quiet team"]


def test_age_breaks_ties(team, other_team):
    queued_job(team, name="newest")
    queued_job(other_team, name="oldest", age=timedelta(minutes=10))
    queued_job(team, name="middle", age=timedelta(minutes=5))
    assert order(queue.plan()) == ["oldest", "middle", "newest"]


def test_every_queued_job_has_a_position_and_a_reason(team):
    profile = gpu_profile(slots=1)
    first = queued_job(team, profile=profile, name="first", age=timedelta(minutes=1))
    second = queued_job(team, profile=profile, name="second")
    positions = queue.queue_positions()
    assert (positions[first.pk].position, positions[first.pk].reason) == (1, "")
    assert positions[second.pk].position == 2
    assert positions[second.pk].reason == "waiting for a free slot (1/1 in use on gpu)"
    assert positions[second.pk].text == "2nd of 2 in the queue: waiting for a free slot (1/1 in use on gpu)"


# --- quotas and held profiles, at dispatch ------------------------------------------------


def test_the_concurrent_gpu_quota_keeps_jobs_queued_with_the_reason(team, dataset, stop_trainers):
    team.max_gpus = 4
    team.save()
    profile = gpu_profile(gpus=2)
    jobs = oldest_first(3, team, profile=profile, dataset=dataset)
    services.dispatch()
    assert [Job.objects.get(pk=j.pk).status for j in jobs] == ["starting", "starting", "queued"]
    reason = Job.objects.get(pk=jobs[2].pk).queue_reason
    assert reason == "waiting: team quota 4/4 GPUs in use; this job needs 2"
    assert sum(Attempt.objects.filter(status__in=Attempt.LIVE).values_list("gpu_count", flat=True)) == 4


def test_a_job_bigger_than_the_quota_says_so(team, dataset):
    team.max_gpus = 2
    team.save()
    job = queued_job(team, profile=gpu_profile(gpus=4), dataset=dataset)
    assert services.dispatch() is None
    job.refresh_from_db()
    assert job.status == "queued"
    assert job.queue_reason.startswith("waiting: this job needs 4 GPUs and team Acme may hold 2")


def test_a_team_at_its_quota_does_not_hold_up_other_teams(team, other_team, dataset, stop_trainers):
    team.max_gpus = 1
    team.save()
    past_usage(team, hours=1, gpus=1, running=True)
    profile = gpu_profile()
    blocked = queued_job(team, profile=profile, dataset=dataset, priority=10)
    other = queued_job(other_team, profile=profile, dataset=dataset)
    services.dispatch()
    blocked.refresh_from_db()
    other.refresh_from_db()
    assert (blocked.status, other.status) == ("queued", "starting")
    assert blocked.queue_reason == "waiting: team quota 1/1 GPUs in use"


def test_the_monthly_gpu_hour_quota_blocks_with_the_reason(team, dataset):
    team.gpu_hours_per_month = 1
    team.save()
    now = timezone.now()
    month_start = queue.month_start(now)
    past_usage(team, hours=100, gpus=4, ended=month_start - timedelta(days=2))  # last month: free
    job = queued_job(team, profile=gpu_profile(), dataset=dataset)
    assert queue.team_usage([team])[0].gpu_hours_this_month == 0
    assert queue.queue_positions()[job.pk].start
    # This month: a running attempt, counted up to now (at most 2 h in, so it is all this month).
    span = min((now - month_start).total_seconds() / 3600, 2.0)
    gpus = math.ceil(1.2 / span)
    past_usage(team, hours=span, gpus=gpus, running=True)
    assert queue.team_usage([team])[0].gpu_hours_this_month == pytest.approx(span * gpus, rel=0.01)
    assert services.dispatch() is None
    job.refresh_from_db()
    assert job.status == "queued"
    assert job.queue_reason.startswith("waiting: team quota ")
    assert job.queue_reason.endswith("/1 GPU-hours used this month")


def test_the_monthly_quota_does_not_stop_jobs_that_use_no_gpu(team, dataset, stop_trainers):
    team.gpu_hours_per_month = 0
    team.save()
    job = queued_job(team, profile=gpu_profile(gpus=0), dataset=dataset)
    assert services.dispatch(job.pk) is not None


def test_the_storage_quota_blocks_with_the_reason(team, dataset):
    team.max_storage_bytes = dataset.bytes
    team.save()
    job = queued_job(team, profile=gpu_profile(), dataset=dataset)
    assert services.dispatch() is None
    job.refresh_from_db()
    assert job.queue_reason.startswith("waiting: team storage quota")
    assert job.queue_reason.endswith("used; delete datasets or job outputs")


def test_a_held_profile_starts_nothing_until_resumed(team, dataset, stop_trainers):
    profile = gpu_profile(is_held=True)
    job = queued_job(team, profile=profile, dataset=dataset)
    assert services.dispatch(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.queue_reason) == ("queued", "waiting: compute profile gpu is on hold")
    assert not Attempt.objects.exists()
    ComputeProfile.objects.filter(pk=profile.pk).update(is_held=False)
    assert services.dispatch(job.pk) is not None


def test_a_team_not_allowed_on_a_profile_waits(team, other_team, dataset):
    profile = gpu_profile()
    profile.allowed_teams.add(other_team)
    job = queued_job(team, profile=profile, dataset=dataset)
    assert services.dispatch() is None
    job.refresh_from_db()
    assert job.queue_reason == "waiting: team Acme may not use compute profile gpu; ask an operator"


def test_a_local_profile_runs_as_many_trainers_as_its_slots(team, dataset, settings, stop_trainers):
    settings.HONE_LOCAL_SLOTS = 1
    two = gpu_profile("two-slots", gpus=0, slots=2)
    jobs = oldest_first(3, team, profile=two, dataset=dataset)
    services.dispatch()
    assert [Job.objects.get(pk=j.pk).status for j in jobs] == ["starting", "starting", "queued"]


def test_the_seeded_local_profile_follows_hone_local_slots(team, dataset, settings, stop_trainers):
    local = ComputeProfile.objects.get(name="local")
    assert local.slots is None  # the migration left it following the setting
    settings.HONE_LOCAL_SLOTS = 2
    jobs = oldest_first(3, team, dataset=dataset)
    services.dispatch()
    assert [Job.objects.get(pk=j.pk).status for j in jobs] == ["starting", "starting", "queued"]
    assert Job.objects.get(pk=jobs[2].pk).queue_reason == "waiting for a free slot (2/2 in use on local)"


def test_a_job_that_starts_loses_its_waiting_reason(team, dataset, stop_trainers):
    profile = gpu_profile(is_held=True)
    job = queued_job(team, profile=profile, dataset=dataset)
    services.dispatch()
    ComputeProfile.objects.filter(pk=profile.pk).update(is_held=False)
    attempt = services.dispatch(job.pk)
    job.refresh_from_db()
    assert (job.status, job.queue_reason, attempt.gpu_count) == ("starting", "", 1)


# --- time limits ----------------------------------------------------------------------


def test_the_team_runtime_quota_caps_the_profile_limit(team):
    profile = gpu_profile(max_runtime_seconds=7200)
    job = queued_job(team, profile=profile)
    assert queue.time_limit(job, profile) == 7200
    team.max_runtime_seconds = 600
    team.save()
    job.refresh_from_db()
    assert queue.time_limit(job, profile) == 600


def test_the_reconciler_stops_an_attempt_past_its_time_limit(team, dataset, stop_trainers):
    team.max_runtime_seconds = 60
    team.save()
    job = queued_job(team, profile=gpu_profile(), dataset=dataset)
    attempt = services.dispatch(job.pk)
    deadline = time.monotonic() + 30  # generous: the machine may be busy
    while Attempt.objects.get(pk=attempt.pk).status != "running":
        assert time.monotonic() < deadline, "the trainer did not start"
        services.reconcile()
        time.sleep(0.05)
    Attempt.objects.filter(pk=attempt.pk).update(started_at=timezone.now() - timedelta(seconds=61))
    services.reconcile()
    attempt.refresh_from_db()
    job.refresh_from_db()
    assert (attempt.status, attempt.exit_code) == ("failed", 124)
    assert job.status == "failed"  # never retried: a retry would stretch the limit
    assert "ran past its time limit of 60 s" in job.error


# --- the job page ---------------------------------------------------------------------------


def test_the_job_page_shows_the_place_in_the_queue_and_the_reason(client, member, team):
    profile = gpu_profile(is_held=True)
    queued_job(team, profile=profile, name="first", age=timedelta(minutes=1))
    job = queued_job(team, profile=profile, name="second")
    client.force_login(member)
    page = client.get(f"/jobs/{job.pk}/live/").content.decode()
    assert "2nd of 2 in the queue: waiting: compute profile gpu is on hold" in page


# --- racing dispatchers ---------------------------------------------------------------------


def race(workers: int, rounds: int = 3) -> list[BaseException]:
    """``workers`` threads, each with its own database connection, dispatching at once."""
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                services.dispatch()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture
def slow_planning(monkeypatch):
    """Widen the window between reading what runs and claiming a job, where a race would strike:
    without the lock, dispatchers here would all count the same GPUs in use and overshoot."""
    snapshot = queue.snapshot

    def slow_snapshot(now):
        snap = snapshot(now)
        time.sleep(random.uniform(0.0, 0.08))  # uneven, so dispatchers fall out of step
        return snap

    monkeypatch.setattr(queue, "snapshot", slow_snapshot)


@pytest.mark.django_db(transaction=True)
def test_racing_dispatchers_never_exceed_the_gpu_quota(
    team, other_team, dataset, slow_planning, stop_trainers
):
    team.max_gpus = 3
    team.save()
    other_team.max_gpus = 2
    other_team.save()
    profile = gpu_profile(gpus=1, slots=20)
    for i in range(6):
        queued_job(team, profile=profile, dataset=dataset, name=f"acme-{i}")
        queued_job(other_team, profile=profile, dataset=dataset, name=f"globex-{i}")
    assert race(workers=4) == []
    live = Attempt.objects.filter(status__in=Attempt.LIVE)
    assert sum(live.filter(job__team=team).values_list("gpu_count", flat=True)) == 3
    assert sum(live.filter(job__team=other_team).values_list("gpu_count", flat=True)) == 2
    assert Attempt.objects.count() == 5  # one attempt per started job, none twice
    assert Job.objects.filter(status="starting").count() == 5


@pytest.mark.django_db(transaction=True)
def test_racing_dispatchers_start_a_job_once_and_respect_slots(team, dataset, slow_planning, stop_trainers):
    profile = gpu_profile(gpus=0, slots=1)
    first = queued_job(team, profile=profile, dataset=dataset, age=timedelta(minutes=1))
    queued_job(team, profile=profile, dataset=dataset)
    assert race(workers=4) == []
    assert list(Attempt.objects.values_list("job_id", "number")) == [(first.pk, 1)]


def test_the_api_gives_a_queued_jobs_place_and_reason(member, team, settings):
    from tests.api.helpers import client_for

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}  # rate limits

    profile = gpu_profile(is_held=True)
    queued_job(team, profile=profile, name="first", age=timedelta(minutes=1))
    job = queued_job(team, profile=profile, name="second")
    api = client_for(member, team)
    body = api.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["queue"] == {"position": 2, "of": 2, "reason": "waiting: compute profile gpu is on hold"}
    Job.objects.filter(pk=job.pk).update(status="running")
    assert api.get(f"/api/v1/jobs/{job.pk}").json()["queue"] is None
