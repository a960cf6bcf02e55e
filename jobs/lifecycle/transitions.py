"""Job status changes: a conditional update, its record, and an announcement after commit."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from jobs.models import Job, JobTransition

# Sent after the transaction that changed the status commits: sender=Job, job_id, status.
job_changed = Signal()


def move(job_id: int, *, to: str, expected: str | tuple[str, ...], **fields: object) -> bool:
    """``UPDATE job SET status=to WHERE status IN expected``; True if this call made the change."""
    states = (expected,) if isinstance(expected, str) else tuple(expected)
    with transaction.atomic():
        changed = Job.objects.filter(pk=job_id, status__in=states).update(status=to, **fields)
        if changed:
            record(job_id, to)
    return bool(changed)


def record(job_id: int, status: str) -> None:
    JobTransition.objects.create(job_id=job_id, status=status)
    # A failing receiver (say, a broker that is down) must not undo or hide the change.
    transaction.on_commit(
        lambda: job_changed.send_robust(sender=Job, job_id=job_id, status=status), robust=True
    )
