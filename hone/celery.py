"""The Celery app. Tasks take ids, are short and idempotent; see jobs/tasks.py."""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")


def _broker_bookkeeping_survives_a_lost_connection() -> None:
    """kombu's redis transport crashes the worker ("Unrecoverable error: 'NoneType' object has no
    attribute 'hostname'" or "… 'client'") when the broker goes away while a message is
    unacknowledged: closing the channel puts the message back through a connection that no longer
    exists, and a task that finishes after the reconnect acknowledges its message through that same
    dead channel. Such a message stays in Redis's unacked set, which Redis restores after its
    visibility timeout; and Hone's tasks are hints besides (the reconciler dispatches queued jobs and
    stops cancelled ones on every pass, the webhook sweep resends), so running one twice is harmless.
    So a restore or an acknowledgement that cannot reach Redis is logged, not fatal."""
    from kombu.transport import redis as kombu_redis

    lost = (AttributeError, OSError, kombu_redis.redis.exceptions.ConnectionError)
    log = logging.getLogger("hone")

    def tolerant(method, what: str):
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except lost as exc:
                log.warning("broker connection lost: %s left to Redis's visibility timeout (%s)", what, exc)
                return None

        return call

    kombu_redis.QoS.restore_unacked = tolerant(kombu_redis.QoS.restore_unacked, "unacknowledged messages")
    kombu_redis.QoS.ack = tolerant(kombu_redis.QoS.ack, "an acknowledgement")
    kombu_redis.QoS.reject = tolerant(kombu_redis.QoS.reject, "a rejection")


_broker_bookkeeping_survives_a_lost_connection()
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
