"""Retry: run a failed or cancelled job again, as a new job through the launch path."""

from __future__ import annotations

from jobs.launch import LaunchRefused, launch, rerun_request
from jobs.models import Job


class RetryRefused(ValueError):
    """The job cannot be run again as it is; the message says why."""


def retry(job: Job, *, user) -> Job:
    """Run a failed or cancelled job again: a NEW job with the same inputs, parameters and compute
    profile, through the launch path (so it is checked as a new job is).

    A new job rather than a requeue, so the original keeps its attempts, error, metrics and finish
    time as they were, and the retry gets a fresh attempt budget; it starts from scratch (the old
    job's checkpoints are not reused). Succeeded training jobs are cloned instead (job form, API)."""
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise RetryRefused(f"only failed or cancelled jobs can be retried; job #{job.pk} is {job.status}")
    try:
        return launch(rerun_request(job, user=user))
    except LaunchRefused as exc:
        raise RetryRefused(str(exc)) from None
