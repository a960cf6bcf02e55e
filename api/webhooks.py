"""Webhooks: signed JSON to a team's endpoints whenever one of its jobs changes state.

The source is the JobTransition outbox, written in the same transaction as each status
change. Two paths read it, and both are idempotent (one delivery row per endpoint and
transition, by a unique constraint):
- fast: ``job_changed`` (sent after commit) enqueues a task that fans out that job's
  transitions and sends them at once;
- safe: a periodic sweep fans out any transition the fast path missed (a worker crash, the
  broker down) and retries deliveries that are due.

A delivery is claimed by a conditional update that also leases it for a while, so two
workers never send it at once and a worker that dies mid-send only delays it. Failures are
retried with exponential backoff up to HONE_WEBHOOK_MAX_ATTEMPTS; every attempt's status
code and error are kept for the delivery log.

Signing: ``Hone-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
The secret is not stored: it is derived as HMAC(SECRET_KEY, endpoint id + a random salt),
so a database dump does not reveal it; rotating SECRET_KEY changes every secret.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Max
from django.utils import timezone

from api import ssrf
from api.models import SweepCursor, WebhookDelivery, WebhookEndpoint
from jobs.models import Job, JobTransition, Team

log = logging.getLogger(__name__)

EVENT = "job.status_changed"
SIGNATURE_HEADER = "Hone-Signature"
SECRET_PREFIX = "whsec_"
LEASE = timedelta(minutes=2)  # a claimed delivery is retried after this if its worker vanished
SWEEP_LAG = timedelta(minutes=5)  # transitions may commit out of id order within this time
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_BACKOFF_SECONDS = 3600


# --- endpoints and secrets ---------------------------------------------------------------


def create_endpoint(*, team: Team, user, url: str, description: str = "") -> WebhookEndpoint:
    """A new endpoint; raises ssrf.UnsafeUrl when the URL may not be called."""
    ssrf.resolve(url)
    return WebhookEndpoint.objects.create(
        team=team, created_by=user, url=url, description=description, secret_salt=secrets.token_hex(16)
    )


def secret_for(endpoint: WebhookEndpoint) -> str:
    message = f"hone-webhook:{endpoint.pk}:{endpoint.secret_salt}".encode()
    return SECRET_PREFIX + hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    endpoint.secret_salt = secrets.token_hex(16)
    endpoint.save(update_fields=["secret_salt"])
    return secret_for(endpoint)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None) -> bool:
    """What a receiver does: check the signature and that it is recent (replays are refused)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- fan-out: transitions → deliveries ------------------------------------------------------


def payload(transition: JobTransition, job: Job) -> dict:
    return {
        "id": f"evt_{transition.pk}",
        "type": EVENT,
        "created_at": transition.at.isoformat().replace("+00:00", "Z"),
        "team": {"id": job.team_id, "slug": job.team.slug},
        "data": {
            "job": {
                "id": job.pk,
                "name": job.name,
                "kind": job.kind,
                "method": job.method,
                "status": transition.status,
                "error": job.error if transition.status == Job.Status.FAILED else "",
                "url": f"/api/v1/jobs/{job.pk}",
            }
        },
    }


def fan_out(transitions) -> int:
    """A pending delivery per active endpoint (that existed then) for each transition.

    Returns how many (endpoint, transition) pairs it saw; pairs already delivered or pending
    are left as they are."""
    earliest = WebhookEndpoint.objects.filter(is_active=True).order_by("created_at").first()
    if earliest is None:
        return 0
    rows = []
    wanted = transitions.filter(at__gte=earliest.created_at).select_related("job__team").order_by("pk")
    endpoints_by_team: dict[int, list[WebhookEndpoint]] = {}
    for transition in wanted.iterator():
        team_id = transition.job.team_id
        if team_id not in endpoints_by_team:
            endpoints_by_team[team_id] = list(WebhookEndpoint.objects.filter(team_id=team_id, is_active=True))
        for endpoint in endpoints_by_team[team_id]:
            if endpoint.created_at <= transition.at:
                body = json.dumps(payload(transition, transition.job), separators=(",", ":"))
                rows.append(
                    WebhookDelivery(
                        endpoint=endpoint,
                        transition=transition,
                        event=EVENT,
                        body=body,
                        next_attempt_at=timezone.now(),
                    )
                )
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def has_endpoints(job_id: int) -> bool:
    return WebhookEndpoint.objects.filter(team__jobs__id=job_id, is_active=True).exists()


# --- delivery ---------------------------------------------------------------------------


def backoff_seconds(attempts: int) -> int:
    """Wait after the ``attempts``-th failure: base, 2×base, 4×base, … up to an hour."""
    return min(settings.HONE_WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__is_active=True,
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def _send(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(status code or None, error text; empty when delivered)."""
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Hone-Webhooks/1",
        "Hone-Event": delivery.event,
        "Hone-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(secret_for(delivery.endpoint), body, int(time.time())),
    }
    try:
        code, snippet = ssrf.post(
            delivery.endpoint.url, body, headers, timeout=settings.HONE_WEBHOOK_TIMEOUT_SECONDS
        )
    except ssrf.UnsafeUrl as exc:
        return None, f"refused: {exc}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timeout, TLS, garbled
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    if 200 <= code < 300:
        return code, ""
    return code, f"HTTP {code}: {snippet}".strip()[:1000]


def deliver(delivery_id: int) -> str | None:
    """One attempt at one delivery, if it is due and nobody else has it. Returns its status."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    code, error = _send(delivery)
    now = timezone.now()
    fields = {"last_status_code": code, "last_error": error}
    if not error:
        fields |= {"status": WebhookDelivery.Status.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
    elif delivery.attempts >= settings.HONE_WEBHOOK_MAX_ATTEMPTS:
        fields |= {"status": WebhookDelivery.Status.FAILED, "next_attempt_at": None}
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=backoff_seconds(delivery.attempts))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    return fields.get("status", WebhookDelivery.Status.PENDING)


def retries_due(delivery_ids: list[int]) -> list[tuple[int, float]]:
    """(delivery, seconds until its next attempt) for those of ``delivery_ids`` still pending: the
    tasks schedule each one then (``api.tasks``); the sweep is the net if that is lost."""
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(
        pk__in=delivery_ids, status=WebhookDelivery.Status.PENDING, next_attempt_at__isnull=False
    ).values_list("pk", "next_attempt_at")
    return [(pk, max((at - now).total_seconds(), 0.0)) for pk, at in pending]


def deliver_due(*, job_id: int | None = None, limit: int = 200) -> list[int]:
    """Attempt the pending deliveries whose time has come (of one job, or all); the ids attempted."""
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now(), endpoint__is_active=True
    )
    if job_id is not None:
        due = due.filter(transition__job_id=job_id)
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    for delivery_id in ids:
        deliver(delivery_id)
    return ids


def deliver_for_job(job_id: int) -> list[int]:
    """Fan out the job's transitions and attempt its due deliveries; the ids attempted."""
    fan_out(JobTransition.objects.filter(job_id=job_id))
    return deliver_due(job_id=job_id)


def sweep() -> list[int]:
    """Fan out transitions not yet seen by the sweep, then retry due deliveries."""
    cursor, _ = SweepCursor.objects.get_or_create(name="webhooks")
    fan_out(JobTransition.objects.filter(pk__gt=cursor.position))
    # Advance only past transitions old enough that no earlier id can still commit.
    settled = JobTransition.objects.filter(pk__gt=cursor.position, at__lt=timezone.now() - SWEEP_LAG)
    newest = settled.aggregate(newest=Max("pk"))["newest"]
    if newest:
        SweepCursor.objects.filter(pk=cursor.pk).update(position=newest)
    return deliver_due()
