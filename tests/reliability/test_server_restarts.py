"""Restart Redis, and separately PostgreSQL, while jobs run: the platform recovers and every
job completes; jobs created while the broker is down are not lost either."""

from __future__ import annotations

import time

import pytest

from tests.reliability.conftest import FAKE_PYTHON

pytestmark = pytest.mark.integration


def wait_for_running(hone, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(a["status"] == "running" for a in hone.drive("report")["attempts"]):
        assert time.monotonic() < deadline, "no attempt started"
        time.sleep(0.5)


@pytest.fixture
def slow_fake_trainer(hone):
    hone.env |= {"HONE_TRAINER_PYTHON": str(FAKE_PYTHON), "FAKE_TRAINER_SLEEP": "4"}
    yield
    hone.worker.stop()


def test_a_redis_restart_during_runs_loses_nothing(hone, servers, slow_fake_trainer):
    _pg, redis = servers
    before = hone.drive("create", "3")
    hone.worker.start()
    wait_for_running(hone)
    redis.stop()
    during = hone.drive("create", "2")  # the broker is down: queued, dispatched later
    time.sleep(3)
    redis.start()
    report = hone.wait_all_finished(timeout=120)
    jobs = {j["id"]: j["status"] for j in report["jobs"]}
    assert all(jobs[i] == "succeeded" for i in before + during), jobs


def test_a_postgres_restart_during_runs_loses_nothing(hone, servers, slow_fake_trainer):
    pg, _redis = servers
    ids = hone.drive("create", "3")
    hone.worker.start()
    wait_for_running(hone)
    pg.stop()
    time.sleep(5)  # trainers finish while the database is away; the reconciler must catch up
    pg.start()
    report = hone.wait_all_finished(timeout=120)
    jobs = {j["id"]: j for j in report["jobs"]}
    assert all(jobs[i]["status"] == "succeeded" for i in ids), [jobs[i] for i in ids]
    for job_id in ids:
        attempts = [a for a in report["attempts"] if a["job_id"] == job_id]
        assert [a["status"] for a in attempts] == ["succeeded"], attempts
