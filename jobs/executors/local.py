"""The local executor: one supervised trainer subprocess per attempt on this machine (its N
processes under torchrun when the spec's shape has several: ``trainers/torchrun.py``).

Each attempt owns a run directory, ``runs/job-<id>/attempt-<n>/``, created with an
atomic ``mkdir``: the directory is the attempt's deterministic name, so submitting twice
adopts the first process instead of starting a second one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jobs.executors.base import Observation, Submission, trainer_command
from trainers.events import decode_line

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A run directory without a pid this long after creation never started.
START_TIMEOUT_SECONDS = 60


# The trainer runs a team's data (and a hub model's code): it gets the machine's environment
# (paths, threads, HF_TOKEN for gated models) but none of the platform's own credentials,
# as a Kubernetes pod gets only its Secret.
PLATFORM_SECRETS = frozenset(
    {"SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "HONE_K8S_KUBECONFIG",
     # The judge endpoint's key goes to the jobs that judge with it only, in their submission's env.
     "HONE_JUDGE_API_KEY", "HONE_JUDGE_API_KEY_FILE"}
)


class LocalExecutor:
    name = "local"

    def __init__(self, storage: Path, python: str | None = None) -> None:
        self.storage = storage
        self.python = python or sys.executable

    def run_dir(self, job_id: int, attempt_number: int) -> Path:
        return self.storage / "runs" / f"job-{job_id}" / f"attempt-{attempt_number}"

    def submit(self, submission: Submission) -> str:
        run_dir = self.run_dir(submission.job_id, submission.attempt_number)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            run_dir.mkdir()
        except FileExistsError:
            return self.external_id(run_dir)  # adopt: this attempt was submitted before
        (run_dir / "spec.json").write_text(json.dumps(submission.spec, indent=2), encoding="utf-8")
        command = trainer_command(self.python, submission.spec, str(run_dir / "spec.json"))
        launcher = [sys.executable, "-m", "jobs.executors.launcher", str(run_dir), "--", *command]
        pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
        inherited = {k: v for k, v in os.environ.items() if k not in PLATFORM_SECRETS}
        env = {**inherited, **submission.env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath}
        with (run_dir / "launcher.log").open("ab") as log:
            proc = subprocess.Popen(
                launcher,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=PROJECT_ROOT,
                start_new_session=True,  # its own process group: cancel signals the whole tree
                close_fds=True,
            )
        (run_dir / "pid").write_text(str(proc.pid), encoding="utf-8")
        return self.external_id(run_dir)

    def external_id(self, run_dir: Path) -> str:
        return str(run_dir.relative_to(self.storage))

    def observe(self, job_id: int, attempt_number: int) -> Observation:
        run_dir = self.run_dir(job_id, attempt_number)
        exit_file = run_dir / "exit.json"
        if exit_file.exists():
            record = json.loads(exit_file.read_text(encoding="utf-8"))
            return Observation("exited", record["exit_code"], record["reason"])
        if not run_dir.exists():
            return Observation("missing", reason="the attempt was never started")
        pid = self._pid(run_dir)
        if pid is None:
            if time.time() - run_dir.stat().st_mtime < START_TIMEOUT_SECONDS:
                return Observation("pending")
            return Observation("missing", reason="the trainer process never started")
        if self._alive(pid, run_dir):
            return Observation("running")
        if exit_file.exists():  # it finished between the two checks
            return self.observe(job_id, attempt_number)
        if _exists(pid) and time.time() - (run_dir / "pid").stat().st_mtime < START_TIMEOUT_SECONDS:
            return Observation("pending")  # forked but not yet exec'd: its cmdline is still its parent's
        return Observation("missing", reason="the trainer's supervisor disappeared without an exit status")

    def cancel(self, job_id: int, attempt_number: int, *, force: bool = False) -> None:
        run_dir = self.run_dir(job_id, attempt_number)
        pid = self._pid(run_dir)
        if pid is None or not self._alive(pid, run_dir):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL if force else signal.SIGTERM)
        if force:
            # The supervisor died with its trainer; record the end it could not.
            record = {
                "exit_code": 137,
                "reason": "killed after the cancel grace period",
                "finished_at": time.time(),
            }
            (run_dir / "exit.json").write_text(json.dumps(record), encoding="utf-8")

    def read_logs(self, job_id: int, attempt_number: int, *, tail_bytes: int = 16384) -> str:
        path = self.run_dir(job_id, attempt_number) / "trainer.log"
        if not path.exists():
            return ""
        with path.open("rb") as fh:
            fh.seek(max(path.stat().st_size - tail_bytes, 0))
            return fh.read().decode("utf-8", errors="replace")

    def read_events(self, job_id: int, attempt_number: int, offset: int) -> tuple[list[dict], int]:
        path = self.run_dir(job_id, attempt_number) / "events.jsonl"
        if not path.exists():
            return [], offset
        events = []
        with path.open("rb") as fh:
            fh.seek(offset)
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # a line still being written; read it next time
                offset += len(line)
                event = decode_line(line)  # None: stray output from a library, not an event
                if event is not None:
                    events.append(event)
        return events, offset

    @staticmethod
    def _pid(run_dir: Path) -> int | None:
        try:
            return int((run_dir / "pid").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _alive(pid: int, run_dir: Path) -> bool:
        """True if ``pid`` is still our launcher (not a recycled pid, not a zombie)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return False
        state = stat.rsplit(")", 1)[-1].split()[0]
        return str(run_dir).encode() in cmdline and state != "Z"


def _exists(pid: int) -> bool:
    """A live process (not a zombie) has this pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
