"""Celery tasks: thin, idempotent wrappers taking ids. None blocks for a training run."""

from celery import shared_task

from jobs.lifecycle import services
from jobs.models import Job


@shared_task(name="jobs.tasks.dispatch_job")
def dispatch_job(job_id: int) -> None:
    services.dispatch(job_id)


@shared_task(name="jobs.tasks.stop_attempts")
def stop_attempts(job_id: int) -> None:
    services.stop_attempts(job_id)


@shared_task(name="jobs.tasks.reconcile")
def reconcile() -> None:
    services.reconcile()


def on_job_changed(sender, job_id: int, status: str, **kwargs) -> None:
    """The work a status change calls for, enqueued once the transaction that made it commits
    (``jobs.lifecycle.transitions.job_changed``): a queued job is dispatched, a cancelled one's trainer
    stopped. With the broker down nothing is lost: the reconciler dispatches queued jobs and
    stops the processes of cancelled ones on its next pass."""
    if status == Job.Status.QUEUED:
        dispatch_job.delay(job_id)
    elif status == Job.Status.CANCELLED:
        stop_attempts.delay(job_id)
