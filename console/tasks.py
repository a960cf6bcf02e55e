"""Celery tasks of the operator console: thin wrappers, safe to run any number of times."""

from celery import shared_task

from console import cluster


@shared_task(name="console.tasks.observe_cluster")
def observe_cluster() -> None:
    cluster.observe()
