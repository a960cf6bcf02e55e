"""Server-rendered SVG line charts: no JavaScript, readable without colour, small enough to poll.

``line_chart`` draws several named series of (step, value) points on shared axes. Values
that are not finite numbers are skipped. Long series come already downsampled from the database
(``jobs.web.metric_series``: at most ``MAX_POINTS`` each, the ends and each range's extremes kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Point = tuple[float, float]

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
# Heckbert's "nice numbers": a raw tick step rounds to 1, 2, 5 or 10 times a power of ten.
NICE_STEPS = ((1.5, 1), (3, 2), (7, 5), (math.inf, 10))
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 34, 30


def finite_points(points: Sequence[tuple[float, float]]) -> list[Point]:
    """Only the points whose step and value are real, finite numbers, ordered by step."""
    kept = []
    for step, value in points:
        try:
            x, y = float(step), float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x) and math.isfinite(y):
            kept.append((x, y))
    return sorted(kept, key=lambda p: p[0])


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m for limit, m in NICE_STEPS if raw / magnitude < limit) * magnitude
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9 and len(ticks) < 50:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + len(ticks) * step
    return ticks


def _value_label(value: float) -> str:
    if 0 < abs(value) < 1e-3:
        return f"{value:.1e}"  # learning rates: 2.0e-04 rather than 0.0002 beside 5e-05
    return f"{value:.3g}"


def tick_labels(ticks: list[float]) -> list[str]:
    """Labels that tell the ticks apart: 259.8, 260, 260.2 rather than 260 three times."""
    labels = [_value_label(t) for t in ticks]
    digits = 4
    while len(set(labels)) < len(labels) and digits <= 9:
        labels = [f"{t:.{digits}g}" for t in ticks]
        digits += 1
    return labels


def _step_label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:.3g}"


def _span(values: list[float], *, pad: bool) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    margin = (high - low) * 0.05 if pad else 0.0
    return low - margin, high + margin


class _Frame:
    """Maps data coordinates to the plot area inside the margins."""

    def __init__(self, width: int, height: int, xs: tuple[float, float], ys: tuple[float, float]) -> None:
        self.left, self.right = MARGIN_LEFT, width - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM
        self.xs, self.ys = xs, ys

    def x(self, value: float) -> float:
        low, high = self.xs
        return self.left + (value - low) / (high - low) * (self.right - self.left)

    def y(self, value: float) -> float:
        low, high = self.ys
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)


def _rule(x1: float, y1: float, x2: float, y2: float, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="currentColor"{extra}/>'


def _axes(frame: _Frame) -> list[str]:
    left, right, top, bottom = frame.left, frame.right, frame.top, frame.bottom
    parts = [
        '<g class="chart-axes" font-size="11" fill="currentColor">',
        _rule(left, bottom, right, bottom),
        _rule(left, top, left, bottom),
    ]
    ticks = nice_ticks(*frame.ys)
    for tick, label in zip(ticks, tick_labels(ticks), strict=True):
        y = frame.y(tick)
        parts.append(_rule(left, y, right, y, ' stroke-opacity="0.15"'))
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for tick in nice_ticks(*frame.xs):
        if tick != int(tick):
            continue  # steps are whole numbers
        x = frame.x(tick)
        parts.append(_rule(x, bottom, x, bottom + 4))
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{_step_label(tick)}</text>')
    parts.append(f'<text x="{right}" y="{bottom + 28}" text-anchor="end" fill-opacity="0.7">step</text></g>')
    return parts


def _line(frame: _Frame, points: list[Point], index: int) -> str:
    colour, dash = COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]
    if len(points) == 1:
        x, y = frame.x(points[0][0]), frame.y(points[0][1])
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
    coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in points)
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2" '
        f'stroke-linejoin="round" stroke-linecap="round"{dash_attr}/>'
    )


def _legend(names: list[str], width: int) -> list[str]:
    parts, x = ['<g class="chart-legend" font-size="12" fill="currentColor">'], MARGIN_LEFT
    for index, name in enumerate(names):
        colour, dash = COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x}" y1="14" x2="{x + 22}" y2="14" stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            f'<text x="{x + 28}" y="18">{escape(name)}</text>'
        )
        x += 40 + 7 * len(name)
        if x > width - 60:
            break
    parts.append("</g>")
    return parts


def _summary(series: dict[str, list[Point]]) -> str:
    described = []
    for name, points in series.items():
        if points:
            step, value = points[-1]
            described.append(f"{name}: {_value_label(value)} at step {_step_label(step)}")
        else:
            described.append(f"{name}: no data")
    return "; ".join(described)


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]], *, width: int = 640, height: int = 240, title: str
) -> SafeString:
    """An accessible inline SVG chart of named (step, value) series; safe to put in a template."""
    cleaned = {name: finite_points(points) for name, points in series.items()}
    label = f"{title}. {_summary(cleaned)}" if cleaned else title
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )
    everything = [p for points in cleaned.values() for p in points]
    if not everything:
        body = (
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" font-size="13" '
            f'fill="currentColor" fill-opacity="0.7">No data yet</text>'
        )
        return mark_safe(f"{head}{body}</svg>")
    xs = _span([p[0] for p in everything], pad=False)
    ys = _span([p[1] for p in everything], pad=True)
    frame = _Frame(width, height, xs, ys)
    parts = [head, *_axes(frame), *_legend(list(cleaned), width)]
    parts.extend(_line(frame, points, index) for index, points in enumerate(cleaned.values()) if points)
    parts.append("</svg>")
    return mark_safe("".join(parts))
