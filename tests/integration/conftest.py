"""A real Celery worker (with embedded beat for the reconciler) against the test database
in PostgreSQL and Redis as the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{connection.settings_dict['NAME']}"


@pytest.fixture(scope="session")
def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        raise pytest.UsageError(
            "integration tests need CELERY_BROKER_URL=redis://…; run them with `make test`"
        )
    return url


@pytest.fixture(scope="session")
def worker_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-storage")


# Module scope: a worker left running would also dispatch and reconcile the jobs that later,
# unrelated tests create in the same test database.
@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker, broker_url, worker_storage, tmp_path_factory):
    """Start `celery worker -B` as a subprocess; yields the Popen."""
    redis.Redis.from_url(broker_url).flushdb()  # no task queued by earlier tests reaches it
    logs = tmp_path_factory.mktemp("worker")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "HONE_STORAGE": str(worker_storage),
        "HONE_RECONCILE_SECONDS": "1",
        "HONE_INGEST_URL": "",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "hone",
        "worker",
        "-B",
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
        "--schedule",
        str(logs / "beat-schedule"),
    ]
    log_file = (logs / "worker.log").open("wb")
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait_for_ready(proc, logs / "worker.log")
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log_file.close()


def _wait_for_ready(proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while b"ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@pytest.fixture
def live(celery_worker, transactional_db, settings, worker_storage):
    """Tests that talk to the worker commit for real and share its storage."""
    settings.HONE_STORAGE = worker_storage
    return celery_worker


def wait_for(predicate, *, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
