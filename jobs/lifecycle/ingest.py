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
from django.utils.dateparse import parse_datetime

from jobs.data import storage
from jobs.lifecycle import transitions
from jobs.models import Artifact, Attempt, Event, Job, MetricPoint

log = logging.getLogger(__name__)

KINDS = {"started", "progress", "metric", "log", "sample", "checkpoint", "artifact", "finished"}
MAX_BATCH = 5000
MAX_INT = 2**31 - 1  # seq and step are PostgreSQL integers


class BadEvents(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event as received, its shape checked; a plain record (a model per event is costly)."""

    seq: int
    kind: str
    time: datetime
    payload: dict


def _time(raw: object) -> datetime | None:
    try:
        return parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        return None


def _parse(raw: object, index: int) -> Incoming:
    if not isinstance(raw, dict):
        raise BadEvents(f"events[{index}] is not an object")
    seq, kind = raw.get("seq"), raw.get("kind")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_INT:
        raise BadEvents(f"events[{index}].seq must be a positive integer, got {seq!r}")
    if kind not in KINDS:
        raise BadEvents(f"events[{index}].kind must be one of {sorted(KINDS)}, got {kind!r}")
    payload = {k: v for k, v in raw.items() if k not in ("seq", "kind", "time")}
    return Incoming(seq=seq, kind=kind, time=_time(raw.get("time")) or timezone.now(), payload=payload)


def parse_events(raw_events: object) -> list[Incoming]:
    if not isinstance(raw_events, list):
        raise BadEvents("'events' must be a list")
    if len(raw_events) > MAX_BATCH:
        raise BadEvents(f"at most {MAX_BATCH} events per request")
    return [_parse(raw, i) for i, raw in enumerate(raw_events)]


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


def _apply(attempt: Attempt, events: list[Incoming]) -> None:
    # A resumed attempt re-logs the steps after its checkpoint, and a batch may hold the same
    # step twice: the newest value wins.
    points = {}
    for event in events:
        if event.kind == "metric" and (point := _metric(attempt, event)) is not None:
            points[point[:2]] = point[2]
    _store_metrics(attempt, points)
    progress = None
    for event in events:
        if event.kind == "started":
            mark_running(attempt)
        elif event.kind == "progress":
            progress = event  # each overwrites the last: only the newest needs applying
        elif event.kind == "artifact":
            _artifact(attempt, event.payload)
    if progress is not None:
        _progress(attempt, progress.payload)


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


def _metric(attempt: Attempt, event: Incoming) -> tuple[str, int, float] | None:
    p = event.payload
    name, step, value, split = p.get("name"), p.get("step"), p.get("value"), p.get("split", "train")
    valid = isinstance(name, str) and isinstance(split, str) and len(name) + len(split) < 100
    valid = valid and isinstance(step, int) and 0 <= step <= MAX_INT and isinstance(value, int | float)
    if not valid or isinstance(value, bool):
        log.warning("attempt %s: ignoring malformed metric event %s", attempt.pk, event.seq)
        return None
    return f"{split}/{name}", step, float(value)


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
