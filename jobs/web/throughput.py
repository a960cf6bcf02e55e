"""A multi-process job's throughput on its page: each rank's tokens per second and the whole run's,
from the ``tokens_per_second`` metrics rank 0 reports for every rank (trainers/throughput.py)."""

from __future__ import annotations

import re

Points = list[tuple[int, float]]
THROUGHPUT = re.compile(r"^(?:rank(?P<rank>\d+)|all)/tokens_per_second$")


def names(series: dict[str, Points]) -> tuple[str, ...]:
    """The throughput series a job has: rank by rank, then all together."""
    found = [name for name in series if THROUGHPUT.match(name)]
    return tuple(sorted(found, key=_order))


def _order(name: str) -> tuple[int, int]:
    rank = THROUGHPUT.match(name)["rank"]  # type: ignore[index]
    return (1, 0) if rank is None else (0, int(rank))


def table(series: dict[str, Points]) -> list[dict]:
    """Per rank and in all: the latest tokens per second, its step, and the mean over the run."""
    rows = []
    for name in names(series):
        points = [(step, value) for step, value in series[name] if value is not None]
        if not points:
            continue
        rank = THROUGHPUT.match(name)["rank"]  # type: ignore[index]
        rows.append(
            {
                "label": f"Rank {rank}" if rank is not None else "All processes",
                "step": points[-1][0],
                "latest": points[-1][1],
                "mean": sum(value for _step, value in points) / len(points),
                "total": rank is None,
            }
        )
    return rows
