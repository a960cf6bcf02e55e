"""The executor interface: submit (idempotent), observe, cancel, read logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Phase = Literal["pending", "running", "exited", "missing"]


@dataclass(frozen=True)
class Observation:
    """What the executor sees of one attempt. ``exit_code`` and ``reason`` are set once exited."""

    phase: Phase
    exit_code: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Submission:
    """Everything an executor needs to start one attempt; ``env`` may hold secrets."""

    job_id: int
    attempt_number: int
    spec: dict
    env: dict[str, str]
    team: str = ""  # the team's slug, for labels
    # The compute profile's fields (ComputeProfile: gpu_count, cpu, memory, node_selector, ...);
    # executors that place work on machines read it, the local executor ignores it.
    profile: dict = field(default_factory=dict)


class ExecutorUnavailable(RuntimeError):
    """The executor could not be asked (API down, timed out): the attempt's state is unknown.

    Not a failure of the attempt: the caller leaves the attempt as it is and asks again later.
    """


class Executor(Protocol):
    name: str

    def submit(self, submission: Submission) -> str:
        """Start the attempt, or adopt it if it already exists; returns its external id."""

    def observe(self, job_id: int, attempt_number: int) -> Observation: ...

    def cancel(self, job_id: int, attempt_number: int, *, force: bool = False) -> None: ...

    def read_logs(self, job_id: int, attempt_number: int, *, tail_bytes: int = 16384) -> str: ...

    def read_events(self, job_id: int, attempt_number: int, offset: int) -> tuple[list[dict], int]:
        """Events the trainer printed since ``offset`` bytes, and the new offset."""


def trainer_command(python: str, spec: dict, spec_path: str) -> list[str]:
    """How an attempt's trainer starts: one process, or its processes under torchrun when the spec's
    shape (``distributed``: nodes × processes per node) has more than one."""
    shape = spec.get("distributed") or {}
    if int(shape.get("nodes", 1)) * int(shape.get("processes_per_node", 1)) > 1:
        return [python, "-m", "trainers.torchrun", spec_path]
    return [python, "-m", "trainers", "run", spec_path]
