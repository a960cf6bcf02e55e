"""Emptying the test database while a real Celery worker still works on it.

The worker's reconciler and dispatcher run every second, reading and updating jobs and attempts.
The flush after each test is one `TRUNCATE` of every table, which takes its locks table by table:
a worker transaction that holds a lock on one table and waits for another can deadlock with it,
and PostgreSQL then aborts one side — once, that was the flush, and every later test saw the
previous test's rows. A deadlock is transient by definition, so the flush is tried again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError
from django.db.backends.base.operations import BaseDatabaseOperations

TRANSIENT = ("deadlock detected", "could not obtain lock", "canceling statement due to lock timeout")


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and any(words in str(exc) for words in TRANSIENT)


@contextmanager
def flush_retrying_lock_conflicts(attempts: int = 5) -> Iterator[None]:
    """While active, a database flush that loses a deadlock with another process is retried."""
    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        for attempt in range(1, attempts + 1):
            try:
                return original(self, sql_list)
            except OperationalError as exc:
                if attempt == attempts or not _is_transient(exc):
                    raise
                print(f"flush lost a lock conflict ({exc}); trying again", file=sys.stderr)
                time.sleep(0.2 * attempt)

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush
    try:
        yield
    finally:
        BaseDatabaseOperations.execute_sql_flush = original
