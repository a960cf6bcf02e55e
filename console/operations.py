"""What operators do to the queue and the compute profiles. Each action records an audit entry
in the same transaction as the change, and only when something changed."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from console import audit
from jobs.lifecycle import services, transitions
from jobs.models import Attempt, ComputeProfile, Job
from jobs.tasks import stop_attempts

PRIORITY_RANGE = (-1000, 1000)


class OperationRefused(ValueError):
    """The action does not apply to the object as it is; the message says why."""


def cancel_job(job: Job, *, by) -> None:
    was = job.status
    with transaction.atomic():
        if not services.cancel(job):
            raise OperationRefused(f"job #{job.pk} has already ended ({job.status}); nothing to cancel")
        audit.record(by, "job.cancel", job, details={"was": was, "team": job.team.slug})


def requeue_job(job: Job, *, by) -> str:
    """Put a job back in the queue; returns what happens next, in words.

    A starting or running job has its attempt stopped as a preemption (SIGTERM: the trainer
    saves a checkpoint); the reconciler then puts it back in the queue and the next attempt
    resumes from that checkpoint, without using up a retry. A failed job goes back in the queue
    at once with a fresh budget of retries, resuming from its last checkpoint if it has one."""
    if job.status in (Job.Status.STARTING, Job.Status.RUNNING):
        return _requeue_running(job, by)
    if job.status != Job.Status.FAILED:
        raise OperationRefused(
            f"job #{job.pk} is {job.status}; only starting, running or failed jobs can be requeued"
        )
    if job.attempts.filter(status__in=Attempt.LIVE).exists():
        raise OperationRefused(f"job #{job.pk} still has an attempt stopping; requeue it once that has ended")
    failures = job.attempts.filter(status=Attempt.Status.FAILED).count()
    with transaction.atomic():
        moved = transitions.move(
            job.pk,
            to=Job.Status.QUEUED,
            expected=Job.Status.FAILED,
            error="",
            finished_at=None,
            eta_seconds=None,
            max_attempts=failures + settings.HONE_MAX_ATTEMPTS,
        )
        if not moved:
            raise OperationRefused(f"job #{job.pk} changed while you looked at it; reload and try again")
        audit.record(by, "job.requeue", job, details={"was": Job.Status.FAILED, "error": job.error[:500]})
    return f"job #{job.pk} is back in the queue"


def _requeue_running(job: Job, by) -> str:
    with transaction.atomic():
        audit.record(by, "job.requeue", job, details={"was": job.status})
        transaction.on_commit(lambda: stop_attempts.delay(job.pk), robust=True)
    return (
        f"job #{job.pk} is being stopped; it goes back in the queue once its trainer has saved a "
        "checkpoint, and resumes from it"
    )


def set_priority(job: Job, priority: int, *, by) -> None:
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise OperationRefused(f"priority must be between {low} and {high}")
    if job.status not in Job.ACTIVE:
        raise OperationRefused(f"job #{job.pk} has ended ({job.status}); its priority no longer matters")
    with transaction.atomic():
        was = Job.objects.select_for_update().values_list("priority", flat=True).get(pk=job.pk)
        if was == priority:
            return
        Job.objects.filter(pk=job.pk).update(priority=priority)
        audit.record(by, "job.priority", job, details={"from": was, "to": priority})


def hold_profile(profile: ComputeProfile, *, by) -> bool:
    """Start no new attempts on ``profile``; running ones go on. False if it was held already."""
    with transaction.atomic():
        if not ComputeProfile.objects.filter(pk=profile.pk, is_held=False).update(is_held=True):
            return False
        audit.record(by, "profile.hold", profile)
    return True


def resume_profile(profile: ComputeProfile, *, by) -> bool:
    with transaction.atomic():
        if not ComputeProfile.objects.filter(pk=profile.pk, is_held=True).update(is_held=False):
            return False
        audit.record(by, "profile.resume", profile)
    return True


def drain(*, by) -> list[str]:
    """Hold every compute profile: nothing new starts, running attempts finish. Returns those held."""
    with transaction.atomic():
        names = _profile_names(held=False)
        ComputeProfile.objects.filter(name__in=names).update(is_held=True)
        details = {"held": names, "running": Attempt.objects.filter(status__in=Attempt.LIVE).count()}
        audit.record(by, "console.drain", "every compute profile", details=details)
    return names


def resume_all(*, by) -> list[str]:
    with transaction.atomic():
        names = _profile_names(held=True)
        ComputeProfile.objects.filter(name__in=names).update(is_held=False)
        audit.record(by, "console.resume_all", "every compute profile", details={"resumed": names})
    return names


def _profile_names(*, held: bool) -> list[str]:
    profiles = ComputeProfile.objects.select_for_update().filter(is_held=held).order_by("name")
    return list(profiles.values_list("name", flat=True))
