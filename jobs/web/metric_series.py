"""Metric series for charts and the API, downsampled in the database so a long run stays fast.

A run can log hundreds of thousands of points; a 640-pixel chart shows a few hundred and an API
client asks for at most ``max_points`` per series. A series that fits comes back exactly. A
longer one is cut into ``max_points // 2`` equal step ranges, and the database returns, per
range, its first and last step and its lowest and highest value (min-max decimation, as chart
libraries do it): spikes survive, and a range holding a single point comes back exactly. The
first and last point of every series are fetched exactly, so "final loss" is the real final
value. ``since`` keeps only the points after a step (incremental reads).

Three queries whatever the number of points or series, in PostgreSQL and SQLite alike:
the extent of each series, the per-range aggregates, the exact end points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from jobs.models import MetricPoint

MAX_POINTS = 300  # per series for the charts: 150 ranges of two points at the most
EVERY_STEP = -(2**31)  # ``since`` that keeps every point

Key = tuple[int, str]  # (job id, metric name)
Points = list[tuple[int, float]]


@dataclass(frozen=True)
class Extent:
    count: int  # points after ``since``
    first: int | None  # their first and last step; None when there are none
    last: int | None

    def fits(self, max_points: int) -> bool:
        return self.count <= max_points

    def width(self, max_points: int) -> int:
        """Steps per range: 1 (every point its own range) when the series fits, else its span
        cut into ``max_points // 2`` equal ranges (two points each at the most)."""
        if self.fits(max_points):
            return 1
        return max(1, math.ceil((self.last - self.first + 1) / (max_points // 2)))


def _table() -> str:
    return connection.ops.quote_name(MetricPoint._meta.db_table)


def _placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def extents(job_ids: list[int], names: list[str] | None, since: int = EVERY_STEP) -> dict[Key, Extent]:
    """Every series of the jobs (of ``names``, if given), with the count and step span of its
    points after ``since``: a series with none after it is there with a count of 0."""
    sql = (
        "SELECT job_id, name, SUM(CASE WHEN step > %s THEN 1 ELSE 0 END), "
        f"MIN(CASE WHEN step > %s THEN step END), MAX(step) FROM {_table()} "
        f"WHERE job_id IN ({_placeholders(job_ids)})"
    )
    params: list = [since, since, *job_ids]
    if names is not None:
        sql += f" AND name IN ({_placeholders(names)})"
        params += names
    rows = _fetch(sql + " GROUP BY job_id, name", params)
    return {
        (job_id, name): Extent(count, first, last if count else None)
        for job_id, name, count, first, last in rows
    }


def _ranges(
    found: dict[Key, Extent], since: int, max_points: int
) -> dict[tuple, tuple[int, int, float, float]]:
    """Per (job, name, range index): first step, last step, lowest and highest value."""
    cases, params = [], []
    for (job_id, name), extent in found.items():
        cases.append("WHEN job_id = %s AND name = %s THEN (step - %s) / %s")
        params += [job_id, name, extent.first, extent.width(max_points)]
    keys = list(found)
    where = " OR ".join(["(job_id = %s AND name = %s)"] * len(keys))
    sql = (
        f"SELECT job_id, name, bucket, MIN(step), MAX(step), MIN(value), MAX(value) FROM ("
        f"SELECT job_id, name, step, value, CASE {' '.join(cases)} END AS bucket FROM {_table()} "
        f"WHERE ({where}) AND step > %s) AS bucketed GROUP BY job_id, name, bucket"
    )
    rows = _fetch(sql, params + [part for key in keys for part in key] + [since])
    return {(job_id, name, bucket): rest for job_id, name, bucket, *rest in rows}


def _end_points(found: dict[Key, Extent]) -> dict[tuple[int, str, int], float]:
    """The exact value at the first and last step of every series (index lookups)."""
    conditions, params = [], []
    for (job_id, name), extent in found.items():
        conditions.append("(job_id = %s AND name = %s AND step IN (%s, %s))")
        params += [job_id, name, extent.first, extent.last]
    rows = _fetch(f"SELECT job_id, name, step, value FROM {_table()} WHERE {' OR '.join(conditions)}", params)
    return {(job_id, name, step): value for job_id, name, step, value in rows}


def _series_points(ranges: list[tuple[int, int, float, float]], ends: dict[int, float]) -> Points:
    """Points in step order: one per single-point range, two (low and high) for wider ones,
    ordered so the line moves as little as possible between ranges."""
    points: Points = []
    for first, last, low, high in ranges:
        if first == last:
            points.append((first, ends.get(first, low)))
            continue
        previous = points[-1][1] if points else ends.get(first, low)
        near, far = (low, high) if abs(previous - low) <= abs(previous - high) else (high, low)
        points += [(first, ends.get(first, near)), (last, ends.get(last, far))]
    return points


def points_of(
    found: dict[Key, Extent], since: int = EVERY_STEP, max_points: int = MAX_POINTS
) -> dict[Key, Points]:
    """The points after ``since`` of the series in ``found`` (from ``extents``), at most
    ``max_points`` each (at least 2)."""
    found = {key: extent for key, extent in found.items() if extent.count}
    if not found:
        return {}
    ranges = _ranges(found, since, max_points)
    ends = _end_points(found)
    by_series: dict[Key, list] = {key: [] for key in found}
    for (job_id, name, _bucket), rest in ranges.items():
        by_series[(job_id, name)].append(rest)
    ends_by_series: dict[Key, dict[int, float]] = {key: {} for key in found}
    for (job_id, name, step), value in ends.items():
        ends_by_series[(job_id, name)][step] = value
    return {key: _series_points(sorted(by_series[key]), ends_by_series[key]) for key in sorted(found)}


def downsampled(job_ids: Iterable[int], names: Iterable[str] | None = None) -> dict[Key, Points]:
    """``{(job_id, name): [(step, value), ...]}``, at most ``MAX_POINTS`` points per series."""
    jobs = [int(job_id) for job_id in job_ids]
    wanted = None if names is None else list(names)
    if not jobs or wanted == []:
        return {}
    return points_of(extents(jobs, wanted))


def for_job(job_id: int, names: Iterable[str] | None = None) -> dict[str, Points]:
    """One job's series by metric name."""
    return {name: points for (_job, name), points in downsampled([job_id], names).items()}
