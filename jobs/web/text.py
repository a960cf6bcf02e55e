"""Numbers and durations in the words the pages use."""

from __future__ import annotations


def human_duration(seconds: float | None) -> str:
    """'45 s', '12 min', '3 h 5 min', '2 d 4 h'; empty when unknown."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    minutes, secs = divmod(total, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if not minutes:
        return f"{secs} s"
    if not hours:
        return f"{mins} min {secs} s" if mins < 10 and secs else f"{mins} min"
    if not days:
        return f"{hrs} h {mins} min" if mins else f"{hrs} h"
    return f"{days} d {hrs} h" if hrs else f"{days} d"


def human_count(count: int | None) -> str:
    """'22.7 M', '1.1 B'; empty when unknown."""
    if count is None:
        return ""
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size:
            return f"{count / size:.3g} {suffix}"
    return str(count)
