"""Celery tasks of the operator console: thin wrappers, safe to run any number of times."""

from celery import shared_task
from django.db import transaction

from console import cluster


@shared_task(name="console.tasks.observe_cluster")
def observe_cluster() -> None:
    cluster.observe()


def request_cluster_refresh() -> None:
    """Ask the worker to look at the cluster (after this request's transaction commits)."""
    transaction.on_commit(lambda: observe_cluster.delay(), robust=True)
