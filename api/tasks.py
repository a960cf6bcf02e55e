"""Celery tasks: thin wrappers over api.webhooks and api.idempotency, taking ids."""

import logging

from celery import shared_task

from api import idempotency, webhooks

log = logging.getLogger(__name__)


@shared_task(name="api.tasks.deliver_job_webhooks")
def deliver_job_webhooks(job_id: int) -> None:
    schedule_retries(webhooks.deliver_for_job(job_id))


@shared_task(name="api.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> None:
    if webhooks.deliver(delivery_id) is not None:  # attempted now (not early, not someone else's)
        schedule_retries([delivery_id])


@shared_task(name="api.tasks.sweep_webhooks")
def sweep_webhooks() -> None:
    webhooks.sweep()


@shared_task(name="api.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> None:
    idempotency.purge_expired()


def schedule_retries(delivery_ids: list[int]) -> None:
    """Try each delivery that failed again when its back-off ends; the sweep retries any missed."""
    for delivery_id, wait in webhooks.retries_due(delivery_ids):
        try:
            deliver_webhook.apply_async((delivery_id,), countdown=wait)
        except Exception:
            log.exception("could not schedule webhook delivery %s; the sweep will retry it", delivery_id)


def on_job_changed(sender, job_id: int, status: str, **kwargs) -> None:
    """After a transition commits: deliver now, if the team has endpoints (the sweep is the net)."""
    try:
        if webhooks.has_endpoints(job_id):
            deliver_job_webhooks.delay(job_id)
    except Exception:  # never fail the transition's caller: the sweep will catch up
        log.exception("could not enqueue webhooks for job %s; the sweep will send them", job_id)
