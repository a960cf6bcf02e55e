"""The Celery app. Tasks take ids, are short and idempotent; see jobs/tasks.py."""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")


def _restore_unacked_when_it_can() -> None:
    """kombu's redis transport crashes the worker ("Unrecoverable error: 'NoneType' object has no
    attribute 'hostname'") when the broker goes away while a message is unacknowledged: closing the
    channel puts the message back through a connection that no longer exists. Such a message stays in
    Redis's unacked set, which Redis restores after its visibility timeout; and Hone's tasks are hints
    besides (the reconciler dispatches queued jobs and stops cancelled ones on every pass, the webhook
    sweep resends). So a restore that cannot reach Redis is logged, not fatal."""
    from kombu.transport import redis as kombu_redis

    restore = kombu_redis.QoS.restore_unacked

    def restore_unacked(self, client=None):
        try:
            return restore(self, client)
        except (AttributeError, OSError, kombu_redis.redis.exceptions.ConnectionError) as exc:
            logging.getLogger("hone").warning("broker gone: unacknowledged messages left to Redis (%s)", exc)
            return None

    kombu_redis.QoS.restore_unacked = restore_unacked


_restore_unacked_when_it_can()
app = Celery("hone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_reconcile(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.HONE_RECONCILE_SECONDS), sender.signature("jobs.tasks.reconcile"), name="reconcile"
    )
    sweep = float(settings.HONE_WEBHOOK_SWEEP_SECONDS)
    sender.add_periodic_task(sweep, sender.signature("api.tasks.sweep_webhooks"), name="webhooks")
    purge = sender.signature("api.tasks.purge_idempotency_keys")
    sender.add_periodic_task(3600.0, purge, name="idempotency keys")
