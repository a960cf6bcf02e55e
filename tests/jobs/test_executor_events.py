"""Both executors read a trainer's output the same way (trainers.events.decode_line): a line is an
event when it is a JSON object with a seq; library output and a line still being written are not.
Also what the local executor makes of a launcher it has only just started."""

from __future__ import annotations

from jobs.executors import kubernetes
from jobs.executors.local import LocalExecutor

OUTPUT = (
    b'{"seq": 1, "kind": "started", "total_steps": 4}\n'
    b"Loading checkpoint shards: 100%\n"
    b'{"kind": "log", "message": "an object without seq"}\n'
    b"[1, 2]\n"
    b'{"seq": 2, "kind": "metric", "name": "loss", "step": 1, "value": 2.0}\n'
    b'{"seq": 3, "kind": "log", "mess'
)
EVENTS = [
    {"seq": 1, "kind": "started", "total_steps": 4},
    {"seq": 2, "kind": "metric", "name": "loss", "step": 1, "value": 2.0},
]
COMPLETE = len(OUTPUT) - len(b'{"seq": 3, "kind": "log", "mess')


def test_the_local_executor_reads_events_with_a_seq_and_stops_at_a_partial_line(tmp_path):
    executor = LocalExecutor(tmp_path)
    run_dir = executor.run_dir(1, 1)
    run_dir.mkdir(parents=True)
    (run_dir / "events.jsonl").write_bytes(OUTPUT)
    assert executor.read_events(1, 1, 0) == (EVENTS, COMPLETE)


def test_the_kubernetes_executor_reads_the_same_lines_the_same_way():
    assert kubernetes._events_after(OUTPUT, 0) == (EVENTS, COMPLETE)


def test_a_launcher_not_yet_execd_is_pending_not_missing(tmp_path):
    """Right after the fork the launcher's cmdline is still its parent's (here: this test process's,
    which names no run directory); until it has had time to start that is not a dead supervisor."""
    import os
    import time

    executor = LocalExecutor(tmp_path)
    run_dir = executor.run_dir(1, 1)
    run_dir.mkdir(parents=True)
    (run_dir / "pid").write_text(str(os.getpid()))
    assert executor.observe(1, 1).phase == "pending"
    old = time.time() - 120
    os.utime(run_dir / "pid", (old, old))
    assert executor.observe(1, 1).phase == "missing"
