"""The one path by which trainer events reach the database.

Used by the HTTP ingest endpoint and by the reconciler reading a trainer's stdout. Each
event is stored once per (attempt, seq); applying an event is idempotent too, so a batch
delivered twice, or by both paths, changes nothing the second time.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from jobs.data import storage
from jobs.lifecycle import transitions
from jobs.models import Artifact, Attempt, Event, Job, MetricPoint
from trainers import events

log = logging.getLogger(__name__)

MAX_BATCH = 5000
MAX_INT = events.MAX_INT  # seq and step are PostgreSQL integers
BadEvents = events.EventError  # not an event: refused with the message, which names the field


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event as received: its typed model (trainers/events.py) and the payload stored as sent."""

    seq: int
    kind: str
    time: datetime
    payload: dict  # every field but seq, kind and time, as sent (extra fields included)
    event: events.BaseEvent  # an ``Unreadable`` one is stored for display but never applied


def parse_one(raw: object, index: int = 0) -> Incoming:
    """One event through the trainer's own parser; BadEvents names ``events[index]`` and the field."""
    event = events.parse_event(raw, where=f"events[{index}]")
    payload = {k: v for k, v in raw.items() if k not in events.ENVELOPE}
    return Incoming(event.seq, event.kind, event.time or timezone.now(), payload, event)


def parse_events(raw_events: object) -> list[Incoming]:
    if not isinstance(raw_events, list):
        raise BadEvents("'events' must be a list")
    if len(raw_events) > MAX_BATCH:
        raise BadEvents(f"at most {MAX_BATCH} events per request")
    return [parse_one(raw, i) for i, raw in enumerate(raw_events)]


def ingest(attempt: Attempt, events: list[Incoming]) -> int:
    """Store and apply the events not seen before; returns how many were new."""
    by_seq = {e.seq: e for e in events}
    if not by_seq:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No wait for the WAL flush: a batch lost in a crash is read again from the trainer's
            # stdout by the reconciler (sync_events), and storing it twice changes nothing.
            _execute("SET LOCAL synchronous_commit TO OFF", [])
        new = _store(attempt, [by_seq[seq] for seq in sorted(by_seq)])
        _apply(attempt, new)
    return len(new)


def _store(attempt: Attempt, events: list[Incoming]) -> list[Incoming]:
    """Insert the events not stored before and return them, in order.

    On PostgreSQL one statement does it (arrays unnested, ON CONFLICT DO NOTHING, RETURNING
    the new seqs): several times faster than building a model per row, and race-free."""
    if connection.vendor != "postgresql":
        seen = set(attempt.events.filter(seq__in=[e.seq for e in events]).values_list("seq", flat=True))
        new = [e for e in events if e.seq not in seen]
        rows = [Event(attempt=attempt, seq=e.seq, kind=e.kind, time=e.time, payload=e.payload) for e in new]
        Event.objects.bulk_create(rows, ignore_conflicts=True)
        return new
    columns = ([e.seq for e in events], [e.kind for e in events], [e.time for e in events])
    # The payloads go as one JSON array, paired with the other columns by position: one
    # json.dumps for the batch, and PostgreSQL parses it once, instead of a jsonb[] parameter
    # of one document per event (each dumped and received on its own: ~2x the time).
    rows = _execute(
        f"INSERT INTO {Event._meta.db_table} (attempt_id, seq, kind, time, payload) "
        "SELECT %s, e.seq, e.kind, e.time, p.payload "
        "FROM unnest(%b::integer[], %b::varchar[], %b::timestamptz[]) "
        "WITH ORDINALITY AS e(seq, kind, time, n) "
        "JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS p(payload, n) ON p.n = e.n "
        "ON CONFLICT (attempt_id, seq) DO NOTHING RETURNING seq",
        [attempt.pk, *columns, _json([e.payload for e in events])],
    )
    stored = {seq for (seq,) in rows}
    return [e for e in events if e.seq in stored]


def _execute(sql: str, params: list) -> list[tuple]:
    """``sql`` on Django's connection, inside its transaction, but with server-side binding:
    the arrays (``%b``) travel as binary parameters instead of being quoted into the statement."""
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _json(payload: dict | list) -> str:
    """JSON that PostgreSQL's jsonb accepts: no NaN or infinity, no NUL characters."""
    try:
        text = json.dumps(payload, allow_nan=False)
    except ValueError:
        text = json.dumps(_clean(payload))
    return json.dumps(_clean(payload)) if "\\u0000" in text else text


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _apply(attempt: Attempt, incoming: list[Incoming]) -> None:
    # A resumed attempt re-logs the steps after its checkpoint, and a batch may hold the same
    # step twice: the newest value wins.
    points = {}
    progress = None
    for item in incoming:
        event = item.event
        if isinstance(event, events.Unreadable):
            log.warning("attempt %s: not applying event %s: %s", attempt.pk, item.seq, event.problem)
        elif isinstance(event, events.Metric) and (point := _metric(attempt, event)) is not None:
            points[point[:2]] = point[2]
        elif isinstance(event, events.Progress):
            progress = event  # each overwrites the last: only the newest needs applying
    _store_metrics(attempt, points)
    for item in incoming:
        if isinstance(item.event, events.Started):
            mark_running(attempt)
        elif isinstance(item.event, events.Artifact):
            _artifact(attempt, item.event)
    if progress is not None:
        _progress(attempt, progress)


def _store_metrics(attempt: Attempt, points: dict[tuple[str, int], float]) -> None:
    if not points:
        return
    if connection.vendor != "postgresql":
        rows = [
            MetricPoint(job_id=attempt.job_id, attempt=attempt, name=name, step=step, value=value)
            for (name, step), value in points.items()
        ]
        MetricPoint.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["job", "name", "step"],
            update_fields=["value", "attempt"],
        )
        return
    names, steps = zip(*points, strict=True)
    _execute(
        f"INSERT INTO {MetricPoint._meta.db_table} (job_id, attempt_id, name, step, value) "
        "SELECT %s, %s, * FROM unnest(%b::varchar[], %b::integer[], %b::float8[]) "
        "ON CONFLICT (job_id, name, step) "
        "DO UPDATE SET value = EXCLUDED.value, attempt_id = EXCLUDED.attempt_id",
        [attempt.job_id, attempt.pk, list(names), list(steps), list(points.values())],
    )


def _metric(attempt: Attempt, event: events.Metric) -> tuple[str, int, float] | None:
    if event.value is None:  # not a finite number: a gap in the chart
        return None
    if len(event.name) + len(event.split) >= 100:  # the series name must fit its column
        log.warning("attempt %s: ignoring metric event %s: name too long", attempt.pk, event.seq)
        return None
    return f"{event.split}/{event.name}", event.step, event.value


def mark_running(attempt: Attempt) -> None:
    now = timezone.now()
    Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.STARTING).update(
        status=Attempt.Status.RUNNING, started_at=now
    )
    transitions.move(attempt.job_id, to=Job.Status.RUNNING, expected=Job.Status.STARTING)
    Job.objects.filter(pk=attempt.job_id, started_at__isnull=True).update(started_at=now)


def _progress(attempt: Attempt, event: events.Progress) -> None:
    if not Attempt.objects.filter(pk=attempt.pk, status__in=Attempt.LIVE).exists():
        return  # a late event from a finished attempt must not move the bar
    Job.objects.filter(pk=attempt.job_id, status__in=Job.ACTIVE).update(
        step=event.step, total_steps=event.total, eta_seconds=event.eta_seconds
    )


def _artifact(attempt: Attempt, event: events.Artifact) -> None:
    try:
        location = storage.relative(event.location)
    except ValueError as exc:
        log.warning("attempt %s: refusing artifact event: %s", attempt.pk, exc)
        return
    values = {
        "kind": event.artifact_kind,
        "location": location,
        "bytes": event.bytes,
        "sha256": event.sha256,
        "attempt": attempt,
    }
    Artifact.objects.update_or_create(job_id=attempt.job_id, name=event.name, defaults=values)
