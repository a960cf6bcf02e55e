"""Fault-injection harness: Hone's worker and driver against private PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.reliability.servers import PrivatePostgres, PrivateRedis
from tests.support.celery_worker import CeleryWorker

ROOT = Path(__file__).resolve().parents[2]
FAKE_PYTHON = ROOT / "tests" / "support" / "fake-python"


class Hone:
    """One installation: its environment, a restartable worker, and the driver."""

    def __init__(self, root: Path, pg: PrivatePostgres, redis: PrivateRedis, tiny_model: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "CELERY_BROKER_URL": redis.url,
            "HONE_STORAGE": str(root / "storage"),
            "HONE_VAR": str(root / "var"),
            "HONE_RECONCILE_SECONDS": "1",
            "HONE_INGEST_URL": "",
            "HONE_LOCAL_SLOTS": "2",
            "TINY_MODEL": str(tiny_model),
        }
        self.worker = CeleryWorker(self.env, root / "worker.log", root / "beat-schedule")

    def drive(self, *args: str) -> object:
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests/reliability/driver.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise AssertionError(f"driver {args} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def report(self) -> dict:
        """Jobs and attempts as the database has them: read directly, in milliseconds, where a
        driver process would take seconds of a busy machine to start Django for each look."""
        queries = {
            "jobs": "SELECT id, status, attempt_count, step, total_steps, error FROM jobs_job",
            "attempts": "SELECT id, job_id, number, status, exit_code, reason, resumed_from "
            "FROM jobs_attempt",
        }
        with psycopg.connect(self.env["DATABASE_URL"], row_factory=dict_row) as conn:
            return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}

    def wait_all_finished(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            report = self.report()
            if all(j["status"] in ("succeeded", "failed", "cancelled") for j in report["jobs"]):
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs did not finish: {report['jobs']}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    root = tmp_path_factory.mktemp("servers")
    pg, redis = PrivatePostgres(), PrivateRedis(root)
    pg.start()
    redis.start()
    yield pg, redis
    redis.stop()
    pg.stop()
    pg.remove()


@pytest.fixture(scope="module")
def hone(servers, tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Hone]:
    pg, redis = servers
    installation = Hone(tmp_path_factory.mktemp("hone"), pg, redis, tiny_model_dir)
    installation.drive("setup")
    yield installation
    installation.worker.stop()
