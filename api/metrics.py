"""Metric series for the API: incremental (``since`` a step) and downsampled in the database.

A long run has hundreds of thousands of points; a client asks for at most ``max_points`` per
series. A series that fits is returned exactly. A longer one is cut into ``max_points`` equal
step ranges and the database returns, per range, its last step and the mean of its values:
the curve's shape survives, its noise is smoothed, and no point crosses into Python that is
not sent. A handful of queries, whatever the length of the run, in PostgreSQL and SQLite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import connection

from jobs.models import MetricPoint


@dataclass(frozen=True)
class Extent:
    count: int  # points after ``since``
    first: int | None
    last: int | None


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _table() -> str:
    return connection.ops.quote_name(MetricPoint._meta.db_table)


def extents(job_id: int, since: int) -> dict[str, Extent]:
    """Every series of the job, with the count and step span of its points after ``since``."""
    rows = _fetch(
        "SELECT name, SUM(CASE WHEN step > %s THEN 1 ELSE 0 END), MIN(CASE WHEN step > %s THEN step END), "
        f"MAX(step) FROM {_table()} WHERE job_id = %s GROUP BY name",
        [since, since, job_id],
    )
    return {name: Extent(count, first, last if count else None) for name, count, first, last in rows}


def exact(job_id: int, names: list[str], since: int) -> dict[str, list[tuple[int, float]]]:
    if not names:
        return {}
    marks = ", ".join(["%s"] * len(names))
    rows = _fetch(
        f"SELECT name, step, value FROM {_table()} WHERE job_id = %s AND name IN ({marks}) AND step > %s "
        "ORDER BY name, step",
        [job_id, *names, since],
    )
    found: dict[str, list[tuple[int, float]]] = {name: [] for name in names}
    for name, step, value in rows:
        found[name].append((step, value))
    return found


def averaged(job_id: int, name: str, extent: Extent, since: int, buckets: int) -> list[tuple[int, float]]:
    """``buckets`` equal step ranges from the first step after ``since`` to the last: each
    range's last step and mean value, for the ranges that hold points."""
    span = extent.last - extent.first + 1
    rows = _fetch(
        "SELECT MAX(step), AVG(value) FROM ("
        f"SELECT step, value, CAST(step - %s AS BIGINT) * %s / %s AS bucket FROM {_table()} "
        "WHERE job_id = %s AND name = %s AND step > %s) AS ranged GROUP BY bucket ORDER BY bucket",
        [extent.first, buckets, span, job_id, name, since],
    )
    return [(step, value) for step, value in rows]


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None  # NaN and ±inf have no JSON


def series(job_id: int, names: list[str] | None, since: int | None, max_points: int) -> dict:
    """What GET /api/v1/jobs/<id>/metrics returns."""
    since = -(2**31) if since is None else since
    found = extents(job_id, since)
    wanted = list(dict.fromkeys(names)) if names else sorted(found)
    fits = [n for n in wanted if n in found and found[n].count <= max_points]
    points = exact(job_id, fits, since)
    result = []
    for name in wanted:
        extent = found.get(name, Extent(0, None, None))
        if extent.count > max_points:
            kept = averaged(job_id, name, extent, since, max_points)
        else:
            kept = points.get(name, [])
        result.append(
            {
                "name": name,
                "points": [{"step": step, "value": finite(value)} for step, value in kept],
                "count": extent.count,
                "last_step": extent.last,
                "downsampled": extent.count > max_points,
            }
        )
    return {"job": job_id, "names": sorted(found), "series": result}
