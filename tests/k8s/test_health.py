"""Liveness and readiness probes: no login, and readiness says what is not ready."""

from __future__ import annotations

import pytest

from hone import health


@pytest.fixture(autouse=True)
def _fresh_migration_check(monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)


def test_liveness_answers_without_a_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_checks_the_database_migrations_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readiness_fails_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error: ")
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_readiness_fails_while_migrations_are_pending(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("jobs", "9999_future")])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"].startswith("error: 1 migration(s) not applied")
