"""Celery tasks: thin wrappers over api.webhooks and api.idempotency, taking ids."""

from celery import shared_task

from api import idempotency, webhooks


@shared_task(name="api.tasks.deliver_job_webhooks")
def deliver_job_webhooks(job_id: int) -> None:
    webhooks.deliver_for_job(job_id)


@shared_task(name="api.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> None:
    webhooks.deliver(delivery_id)


@shared_task(name="api.tasks.sweep_webhooks")
def sweep_webhooks() -> None:
    webhooks.sweep()


@shared_task(name="api.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> None:
    idempotency.purge_expired()
