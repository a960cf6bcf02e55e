"""Celery tasks: thin, idempotent wrappers taking ids. None blocks for a training run."""

from celery import shared_task

from jobs import services


@shared_task(name="jobs.tasks.dispatch_job")
def dispatch_job(job_id: int) -> None:
    services.dispatch(job_id)


@shared_task(name="jobs.tasks.stop_attempts")
def stop_attempts(job_id: int) -> None:
    services.stop_attempts(job_id)


@shared_task(name="jobs.tasks.reconcile")
def reconcile() -> None:
    services.reconcile()
