"""The one path by which trainer events reach the database.

Used by the HTTP ingest endpoint and by the reconciler reading a trainer's stdout. Each
event is stored once per (attempt, seq); applying an event is idempotent too, so a batch
delivered twice, or by both paths, changes nothing the second time.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs import storage, transitions
from jobs.models import Artifact, Attempt, Event, Job, MetricPoint

log = logging.getLogger(__name__)

KINDS = {"started", "progress", "metric", "log", "sample", "checkpoint", "artifact", "finished"}
MAX_BATCH = 5000


class BadEvents(ValueError):
    pass


def _parse(raw: object, index: int) -> Event:
    if not isinstance(raw, dict):
        raise BadEvents(f"events[{index}] is not an object")
    seq, kind = raw.get("seq"), raw.get("kind")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise BadEvents(f"events[{index}].seq must be a positive integer, got {seq!r}")
    if kind not in KINDS:
        raise BadEvents(f"events[{index}].kind must be one of {sorted(KINDS)}, got {kind!r}")
    when = parse_datetime(raw["time"]) if isinstance(raw.get("time"), str) else None
    payload = {k: v for k, v in raw.items() if k not in ("seq", "kind", "time")}
    return Event(seq=seq, kind=kind, time=when or timezone.now(), payload=payload)


def parse_events(raw_events: object) -> list[Event]:
    if not isinstance(raw_events, list):
        raise BadEvents("'events' must be a list")
    if len(raw_events) > MAX_BATCH:
        raise BadEvents(f"at most {MAX_BATCH} events per request")
    return [_parse(raw, i) for i, raw in enumerate(raw_events)]


def ingest(attempt: Attempt, events: list[Event]) -> int:
    """Store and apply the events not seen before; returns how many were new."""
    by_seq = {e.seq: e for e in events}
    if not by_seq:
        return 0
    with transaction.atomic():
        seen = set(attempt.events.filter(seq__in=by_seq).values_list("seq", flat=True))
        new = [e for seq, e in sorted(by_seq.items()) if seq not in seen]
        for event in new:
            event.attempt = attempt
        Event.objects.bulk_create(new, ignore_conflicts=True)
        _apply(attempt, new)
    return len(new)


def _apply(attempt: Attempt, events: list[Event]) -> None:
    metrics = [_metric(attempt, e) for e in events if e.kind == "metric"]
    metrics = [m for m in metrics if m is not None]
    if metrics:
        # A resumed attempt re-logs the steps after its checkpoint: the newest value wins.
        MetricPoint.objects.bulk_create(
            metrics,
            update_conflicts=True,
            unique_fields=["job", "name", "step"],
            update_fields=["value", "attempt"],
        )
    for event in events:
        if event.kind == "started":
            mark_running(attempt)
        elif event.kind == "progress":
            _progress(attempt, event.payload)
        elif event.kind == "artifact":
            _artifact(attempt, event.payload)


def _metric(attempt: Attempt, event: Event) -> MetricPoint | None:
    p = event.payload
    name, step, value, split = p.get("name"), p.get("step"), p.get("value"), p.get("split", "train")
    if not isinstance(name, str) or not isinstance(step, int) or not isinstance(value, int | float):
        log.warning("attempt %s: ignoring malformed metric event %s", attempt.pk, event.seq)
        return None
    return MetricPoint(job_id=attempt.job_id, attempt=attempt, name=f"{split}/{name}", step=step, value=value)


def mark_running(attempt: Attempt) -> None:
    now = timezone.now()
    Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.STARTING).update(
        status=Attempt.Status.RUNNING, started_at=now
    )
    transitions.move(attempt.job_id, to=Job.Status.RUNNING, expected=Job.Status.STARTING)
    Job.objects.filter(pk=attempt.job_id, started_at__isnull=True).update(started_at=now)


def _progress(attempt: Attempt, p: dict) -> None:
    step, total = p.get("step"), p.get("total")
    if not isinstance(step, int) or not isinstance(total, int):
        return
    if not Attempt.objects.filter(pk=attempt.pk, status__in=Attempt.LIVE).exists():
        return  # a late event from a finished attempt must not move the bar
    eta = p.get("eta_seconds")
    Job.objects.filter(pk=attempt.job_id, status__in=Job.ACTIVE).update(
        step=step, total_steps=total, eta_seconds=eta if isinstance(eta, int | float) else None
    )


def _artifact(attempt: Attempt, p: dict) -> None:
    try:
        location = storage.relative(p["location"])
        values = {
            "kind": str(p["artifact_kind"]),
            "location": location,
            "bytes": int(p["bytes"]),
            "sha256": str(p["sha256"]),
            "attempt": attempt,
        }
        name = str(p["name"])
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("attempt %s: refusing artifact event: %s", attempt.pk, exc)
        return
    Artifact.objects.update_or_create(job_id=attempt.job_id, name=name, defaults=values)
