"""A real Celery worker (with embedded beat for the reconciler) against the test database
in PostgreSQL and Redis as the broker."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.support.celery_worker import CeleryWorker
from tests.support.flush import flush_retrying_lock_conflicts


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


# Secrets in the worker's environment, as in production: test_no_secrets_in_logs searches every
# log for them (the worker's SECRET_KEY is the one it derives webhook secrets from).
WORKER_SECRETS = {
    "SECRET_KEY": "sec-test-" + secrets.token_urlsafe(40),
    "HF_TOKEN": "hf_" + secrets.token_hex(17),
}


# One worker for this package (its start-up is seconds of a 2-core machine), stopped when the
# package ends: a worker left running would also dispatch and reconcile the jobs that later,
# unrelated tests create in the same test database. Tests share it as they would a deployment;
# the database is emptied between tests, so none sees another's jobs.
@pytest.fixture(scope="package")
def celery_worker(django_db_setup, django_db_blocker, broker_url, worker_storage, tmp_path_factory):
    """A running `celery worker -B` (tests/support/celery_worker.py) on the test database."""
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
        "HONE_WEBHOOK_ALLOW_PRIVATE": "1",  # the webhook receiver of test_no_secrets_in_logs is local
        **WORKER_SECRETS,
    }
    worker = CeleryWorker(env, logs / "worker.log", logs / "beat-schedule")
    worker.start()
    # The flush after each test runs while the worker works on the same tables (see the module).
    with flush_retrying_lock_conflicts():
        yield worker
    worker.stop(timeout=20)


@pytest.fixture
def live(celery_worker, transactional_db, settings, worker_storage):
    """Tests that talk to the worker commit for real and share its storage."""
    settings.HONE_STORAGE = worker_storage
    return celery_worker
