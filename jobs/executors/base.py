"""The executor interface: submit (idempotent), observe, cancel, read logs."""

from __future__ import annotations

from dataclasses import dataclass
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


class Executor(Protocol):
    name: str

    def submit(self, submission: Submission) -> str:
        """Start the attempt, or adopt it if it already exists; returns its external id."""

    def observe(self, job_id: int, attempt_number: int) -> Observation: ...

    def cancel(self, job_id: int, attempt_number: int, *, force: bool = False) -> None: ...

    def read_logs(self, job_id: int, attempt_number: int, *, tail_bytes: int = 16384) -> str: ...

    def read_events(self, job_id: int, attempt_number: int, offset: int) -> tuple[list[dict], int]:
        """Events the trainer printed since ``offset`` bytes, and the new offset."""
