"""Metric series for the API: incremental (``since`` a step) and downsampled in the database by
``jobs.web.metric_series`` (the charts' downsampler: exact when a series fits, else the lowest and
highest value of each step range, with the first and last point exact)."""

from __future__ import annotations

import math

from jobs.web import metric_series


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None  # NaN and ±inf have no JSON


def series(job_id: int, names: list[str] | None, since: int | None, max_points: int) -> dict:
    """What GET /api/v1/jobs/<id>/metrics returns."""
    since = metric_series.EVERY_STEP if since is None else since
    found = {name: extent for (_job, name), extent in metric_series.extents([job_id], None, since).items()}
    wanted = list(dict.fromkeys(names)) if names else sorted(found)
    chosen = {(job_id, name): found[name] for name in wanted if name in found}
    points = metric_series.points_of(chosen, since, max_points)
    result = []
    for name in wanted:
        extent = found.get(name, metric_series.Extent(0, None, None))
        result.append(
            {
                "name": name,
                "points": [{"step": s, "value": finite(v)} for s, v in points.get((job_id, name), [])],
                "count": extent.count,
                "last_step": extent.last,
                "downsampled": not extent.fits(max_points),
            }
        )
    return {"job": job_id, "names": sorted(found), "series": result}
