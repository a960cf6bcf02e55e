"""Supervises one local trainer process and records how it ended.

Run as ``python -m jobs.executors.launcher RUN_DIR -- CMD...`` in its own session, so a
restart of the Celery worker neither kills the trainer nor loses its exit status: the
reconciler reads ``exit.json`` (written atomically) from any process. Standard library only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def describe_exit(returncode: int) -> tuple[int, str]:
    """Map a Popen return code to a shell-style exit code and a reason for people."""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        return 128 + sig.value, f"the trainer was killed by {sig.name}"
    reasons = {0: "", 2: "invalid input or spec", 3: "out of memory", 143: "terminated (SIGTERM)"}
    return returncode, reasons.get(returncode, f"the trainer exited with code {returncode}")


def main(run_dir: Path, command: list[str]) -> int:
    received: list[int] = []
    proc: subprocess.Popen | None = None

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    # Installed before the trainer starts, so a cancel that arrives early is not lost.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if received:
        returncode = 128 + received[0]
    else:
        with (run_dir / "events.jsonl").open("ab") as out, (run_dir / "trainer.log").open("ab") as err:
            proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=run_dir)
        if received and proc.poll() is None:
            proc.send_signal(received[0])  # arrived while it was being started
        returncode = proc.wait()
    exit_code, reason = describe_exit(returncode)
    record = {"exit_code": exit_code, "reason": reason, "finished_at": time.time()}
    _write_atomic(run_dir / "exit.json", json.dumps(record))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: python -m jobs.executors.launcher RUN_DIR -- COMMAND...")
    sys.exit(main(Path(sys.argv[1]), sys.argv[3:]))
