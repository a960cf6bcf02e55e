"""Probes for Kubernetes (or any supervisor): liveness and readiness. No login, no session.

- ``/healthz``: the process answers. Nothing else: a database outage must not make the
  kubelet restart every web pod.
- ``/readyz``: this pod can serve: the database answers, every migration is applied, and
  the Celery broker answers. 503 with what is wrong otherwise, so traffic waits.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0
_migrated = False  # once every migration is applied, a pod need not check again


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "migrations": check_migrations(), "broker": check_broker()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


def check_database() -> str:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        log.warning("readiness: database: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def check_migrations() -> str:
    global _migrated
    if _migrated:
        return "ok"
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        log.warning("readiness: migrations: %s", exc)
        return f"error: {type(exc).__name__}"
    if pending:
        return f"error: {len(pending)} migration(s) not applied; run `python manage.py migrate`"
    _migrated = True
    return "ok"


def check_broker() -> str:
    from kombu import Connection

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    try:
        with Connection(settings.CELERY_BROKER_URL, transport_options=options) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness: broker %s: %s", settings.CELERY_BROKER_URL.split("@")[-1], exc)
        return f"error: {type(exc).__name__}"
    return "ok"
