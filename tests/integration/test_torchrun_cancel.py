"""Cancelling a running two-process (torchrun, gloo) attempt through the worker: every rank stops,
the attempt ends cancelled, and no process of its tree is left (read from /proc)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data.datasets import create_dataset
from jobs.executors import registry
from jobs.lifecycle import services
from jobs.models import Attempt, ComputeProfile
from tests.conftest import jsonl_bytes
from tests.integration.test_worker_flow import LONG, status_of
from tests.support.waiting import wait_for

# slow: a real worker, torchrun and two ranks of torch start-up (about 76 s); `make test-slow` runs it
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _stat(pid: int) -> list[str] | None:
    """A live process's /proc stat fields after its name (state first), or None (gone or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else fields


def _tree(root: int) -> set[int]:
    """``root`` and its live descendants (torchrun starts each rank in a session of its own)."""
    children: dict[int, set[int]] = {}
    for path in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(path.name))
        if fields is not None:
            children.setdefault(int(fields[1]), set()).add(int(path.name))  # state, ppid
    found, todo = set(), [root] if _stat(root) is not None else []
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, set())
    return found


def _ranks(pids: set[int]) -> set[int]:
    """The processes that torchrun started: the trainer's workers, with RANK in their environment."""
    ranks = set()
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(var.startswith(b"LOCAL_RANK=") for var in environ):
            ranks.add(pid)
    return ranks


def test_cancel_stops_every_rank_and_the_attempt_ends_cancelled_with_no_process_left(
    live, team, member, tiny_model, demo_rows
):
    profile = ComputeProfile.objects.create(name="cpu-2", cpu="2", memory="8Gi", processes_per_node=2)
    upload = SimpleUploadedFile("train.jsonl", jsonl_bytes(demo_rows))
    dataset = create_dataset(team=team, user=member, name="toy", upload=upload)
    job = launch.launch_training(
        team=team,
        user=member,
        name="ddp",
        base_model=tiny_model,
        dataset=dataset,
        params=LONG,
        profile=profile,
    )
    wait_for(lambda: status_of(job) == "running" and job.step > 0, timeout=180, what="training to start")
    launcher = int((registry.current().run_dir(job.pk, 1) / "pid").read_text())
    tree = _tree(launcher)
    ranks = _ranks(tree)
    assert len(ranks) == 2, f"expected two ranks in {sorted(tree)}"

    assert services.cancel(job)
    wait_for(
        lambda: Attempt.objects.get(job=job).status == "cancelled", timeout=90, what="the attempt to end"
    )
    assert status_of(job) == "cancelled"
    wait_for(lambda: not _tree(launcher), timeout=30, what="every process of the attempt to exit")
    assert all(_stat(pid) is None for pid in tree | ranks)
