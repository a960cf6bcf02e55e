"""A real `celery -A hone worker -B` (embedded beat runs the reconciler) as a subprocess, for the
integration and fault-injection tests and the dispatch benchmark: one way to start it, wait for
it, stop it and kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """One worker installation: its environment and log; started and stopped as often as a test likes.

    The worker runs in its own session, so ``kill`` takes its pool processes with it (trainers
    run in sessions of their own and survive, as they would a crashed worker)."""

    def __init__(self, env: dict[str, str], log: Path, schedule: Path, concurrency: int = 2) -> None:
        self.env = env
        self.log = log
        self.command = [
            *(sys.executable, "-m", "celery", "-A", "hone", "worker", "-B"),
            *("--loglevel", "INFO", "--concurrency", str(concurrency), "--schedule", str(schedule)),
            # One worker at a time: no neighbours to sync with (mingle waits a second for them at
            # every start) or to gossip to.
            *("--without-mingle", "--without-gossip"),
        ]
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the worker was never started"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait_ready: bool = True, timeout: float = 60) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_ready:
            self.wait_ready(offset, timeout)

    def wait_ready(self, offset: int = 0, timeout: float = 60) -> None:
        """Until this start's "ready." line (the log is appended to across restarts)."""
        deadline = time.monotonic() + timeout
        while b"ready." not in self.log.read_bytes()[offset:]:
            if not self.running() or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the Celery worker did not start:\n{tail}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes."""
        if self.running():
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it takes longer than ``timeout``."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
