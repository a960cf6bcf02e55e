"""The Celery app. Tasks take ids, are short and idempotent; see jobs/tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")

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
