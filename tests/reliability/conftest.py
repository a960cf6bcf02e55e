"""Fault-injection harness: Hone's worker and driver against private PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.servers import PrivatePostgres, PrivateRedis

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
        self.worker: subprocess.Popen | None = None
        self.worker_log = root / "worker.log"

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

    def start_worker(self, wait_ready: bool = True) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hone",
            "worker",
            "-B",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--schedule",
            str(self.root / "beat-schedule"),
        ]
        log = self.worker_log.open("ab")
        self.worker = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if wait_ready:
            self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        start = self.worker_log.stat().st_size if self.worker_log.exists() else 0
        deadline = time.monotonic() + timeout
        while b"ready." not in self.worker_log.read_bytes()[start - 1 if start else 0 :]:
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.worker_log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool processes (trainers run in their own sessions)."""
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()

    def stop_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_worker()

    def wait_all_finished(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            report = self.drive("report")
            if all(j["status"] in ("succeeded", "failed", "cancelled") for j in report["jobs"]):
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs did not finish: {report['jobs']}")
            time.sleep(1)


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
    installation.stop_worker()
