"""Celery tasks: thin, idempotent wrappers taking ids. None blocks for a training run."""

from celery import shared_task

from jobs.lifecycle import services
from jobs.models import Job
from jobs.sweeps import driver as sweeps


@shared_task(name="jobs.tasks.dispatch_job")
def dispatch_job(job_id: int) -> None:
    services.dispatch(job_id)


@shared_task(name="jobs.tasks.stop_attempts")
def stop_attempts(job_id: int) -> None:
    services.stop_attempts(job_id)


@shared_task(name="jobs.tasks.reconcile")
def reconcile() -> None:
    services.reconcile()
    sweeps.drive_all()


@shared_task(name="jobs.tasks.drive_sweep")
def drive_sweep(sweep_id: int) -> None:
    sweeps.drive(sweep_id)


def on_job_changed(sender, job_id: int, status: str, **kwargs) -> None:
    """The work a status change calls for, enqueued once the transaction that made it commits
    (``jobs.lifecycle.transitions.job_changed``): a queued job is dispatched, a cancelled one's trainer
    stopped. With the broker down nothing is lost: the reconciler dispatches queued jobs and
    stops the processes of cancelled ones on its next pass."""
    if status == Job.Status.QUEUED:
        dispatch_job.delay(job_id)
    elif status == Job.Status.CANCELLED:
        stop_attempts.delay(job_id)
    if status in Job.FINISHED or status == Job.Status.RUNNING:
        # A trial that ended is told to its sweep now, not at the next beat; a sweep starts its trials.
        parent_id, kind = Job.objects.filter(pk=job_id).values_list("parent_id", "kind").first() or (None, "")
        if parent_id or kind == Job.Kind.SWEEP:
            drive_sweep.delay(parent_id or job_id)
