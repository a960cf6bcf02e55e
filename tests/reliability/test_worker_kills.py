"""SIGKILL the Celery worker at random points during dispatch and reconcile, 20 times:
no job is lost and no job ever has two live trainer processes."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.reliability.conftest import FAKE_PYTHON

pytestmark = pytest.mark.integration

KILLS = 20
JOBS = 16
RUN_DIR = re.compile(rb"runs/job-(\d+)/attempt-(\d+)")


class LiveAttemptWatcher(threading.Thread):
    """Samples the process table: which attempts of each job have a live process right now."""

    def __init__(self, storage: Path) -> None:
        super().__init__(daemon=True)
        self.marker = str(storage).encode()
        self.violations: list[str] = []
        self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            alive: dict[int, set[int]] = defaultdict(set)
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    raw = cmdline.read_bytes()
                except OSError:
                    continue
                found = RUN_DIR.search(raw) if self.marker in raw else None
                if found:
                    alive[int(found[1])].add(int(found[2]))
            self.violations += [
                f"job {j}: attempts {sorted(a)} alive at once" for j, a in alive.items() if len(a) > 1
            ]
            self.samples += 1
            time.sleep(0.05)


def test_killing_the_worker_20_times_loses_nothing_and_never_doubles_a_job(hone):
    hone.env |= {"HONE_TRAINER_PYTHON": str(FAKE_PYTHON), "FAKE_TRAINER_SLEEP": "1.5"}
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    ids = hone.drive("create", str(JOBS))
    watcher = LiveAttemptWatcher(Path(hone.env["HONE_STORAGE"]))
    watcher.start()
    try:
        for _ in range(KILLS):
            hone.worker.start()
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere in dispatch, reconcile or idle
            hone.worker.kill()
        hone.worker.start()
        report = hone.wait_all_finished(timeout=180)
    finally:
        watcher.stopping.set()
        watcher.join()
        hone.worker.stop()
    jobs = {j["id"]: j for j in report["jobs"]}
    assert set(ids) <= set(jobs), f"jobs lost (seed {seed})"
    assert all(jobs[i]["status"] == "succeeded" for i in ids), (seed, [jobs[i] for i in ids])
    assert not watcher.violations, (seed, watcher.violations[:5])
    assert watcher.samples > 100
    for job_id in ids:
        attempts = [a for a in report["attempts"] if a["job_id"] == job_id]
        assert [a["status"] for a in attempts].count("succeeded") == 1, (seed, attempts)
