"""A server-rendered SVG histogram of tokens per row, with the max-length cut marked.

When rows reach the cut, it is a bin edge, so every bar is either kept whole or cut: kept
bars are blue, cut ones orange and hatched, readable without colour. When every row is far
shorter than the cut, the bins fit the rows and a note says where the cut lies.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from jobs.web.charts import COLOURS, nice_ticks

BINS_BELOW_CUT = 16
MAX_BINS = 32
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 36
HATCH = (
    '<defs><pattern id="cut-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{COLOURS[1]}"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2" stroke-opacity="0.5"/></pattern></defs>'
)


def _nice_width(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that is at least ``raw``."""
    width, factors = 1, (2, 2.5, 2)
    i = 0
    while width < raw:
        width = round(width * factors[i % 3])
        i += 1
    return width


def bin_edges(lengths: list[int], cut: int) -> list[int]:
    """Equal-width integer bins from 0; the last bin takes whatever is longer still."""
    longest = max(lengths, default=0)
    if longest * 2 <= cut:  # every row far shorter than the cut: bins fit the rows
        width = _nice_width((longest + 1) / 20)
        return list(range(0, longest + width + 1, width))
    width = max(1, math.ceil(cut / BINS_BELOW_CUT))
    edges = list(range(0, cut + 1, width))
    if edges[-1] != cut:
        edges.append(cut)
    while edges[-1] <= longest and len(edges) <= MAX_BINS:
        edges.append(edges[-1] + width)
    if edges[-1] <= longest:
        edges[-1] = longest + 1  # an overflow bin
    return edges


def counts(lengths: list[int], edges: list[int]) -> list[int]:
    found = [0] * (len(edges) - 1)
    for length in lengths:
        found[min(max(bisect_right(edges, length) - 1, 0), len(found) - 1)] += 1
    return found


class _Frame:
    def __init__(self, width: int, height: int, edges: list[int], top_count: int) -> None:
        self.width, self.bottom = width, height - BOTTOM
        self.plot_w, self.plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
        self.edges, self.top_count = edges, top_count

    def x(self, value: float) -> float:
        return LEFT + (value - self.edges[0]) / (self.edges[-1] - self.edges[0]) * self.plot_w

    def y(self, count: float) -> float:
        return self.bottom - count / self.top_count * self.plot_h


def _axes(frame: _Frame, unit: str = "tokens") -> list[str]:
    parts = []
    for tick in nice_ticks(0, frame.top_count, 4):
        if tick == int(tick):
            y = frame.y(tick)
            parts.append(
                f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="currentColor" stroke-opacity="0.15"/>'
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{int(tick):,}</text>'
            )
    for tick in nice_ticks(frame.edges[0], frame.edges[-1], 6):
        shown = f"{int(tick):,}" if float(tick).is_integer() else f"{tick:.3g}"
        parts.append(
            f'<text x="{frame.x(tick):.1f}" y="{frame.bottom + 16}" text-anchor="middle">{shown}</text>'
        )
    parts.append(
        f'<text x="{frame.width - RIGHT}" y="{frame.bottom + 32}" text-anchor="end" fill-opacity="0.7">'
        f"{escape(unit)}</text>"
        f'<line x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{frame.bottom}" y2="{frame.bottom}" '
        'stroke="currentColor"/>'
    )
    return parts


def _bars(frame: _Frame, found: list[int], cut: int) -> list[str]:
    parts = []
    for i, count in enumerate(found):
        if not count:
            continue
        left, right = frame.x(frame.edges[i]), frame.x(frame.edges[i + 1])
        fill = "url(#cut-hatch)" if frame.edges[i] >= cut else COLOURS[0]
        parts.append(
            f'<rect x="{left + 0.5:.1f}" y="{frame.y(count):.1f}" width="{max(right - left - 1, 1):.1f}" '
            f'height="{frame.bottom - frame.y(count):.1f}" fill="{fill}"><title>'
            f"{frame.edges[i]:,}–{frame.edges[i + 1] - 1:,} tokens: {count:,} rows</title></rect>"
        )
    return parts


def _cut_marker(frame: _Frame, cut: int) -> str:
    """A dashed line at the cut, or a note at the right edge when the cut lies past every row."""
    if cut > frame.edges[-1]:
        return f'<text x="{frame.width - RIGHT}" y="{TOP - 10}" text-anchor="end">max length {cut:,} →</text>'
    at = frame.x(cut)
    dx, anchor = (-4, "end") if at > frame.width * 0.7 else (4, "start")  # keep the label inside
    return (
        f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{TOP - 6}" y2="{frame.bottom}" stroke="{COLOURS[1]}" '
        f'stroke-width="2" stroke-dasharray="5 3"/><text x="{at + dx:.1f}" y="{TOP - 10}" '
        f'text-anchor="{anchor}">max length {cut:,}</text>'
    )


def length_histogram(lengths: list[int], cut: int, *, width: int = 640, height: int = 220) -> SafeString:
    """An accessible inline SVG: how many rows have how many tokens, and where ``cut`` falls."""
    over = sum(length > cut for length in lengths)
    label = (
        f"Tokens per row for {len(lengths):,} rows: longest {max(lengths, default=0):,}; "
        f"{over:,} longer than {cut:,} tokens would be cut."
    )
    head = _svg_head(label, width, height) + HATCH
    if not lengths:
        empty = f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="currentColor">'
        return mark_safe(f"{head}{empty}No rows</text></svg>")
    edges = bin_edges(lengths, cut)
    found = counts(lengths, edges)
    frame = _Frame(width, height, edges, max(found))
    parts = [head, '<g font-size="11" fill="currentColor">', *_axes(frame), *_bars(frame, found, cut)]
    parts += [_cut_marker(frame, cut), "</g></svg>"]
    return mark_safe("".join(parts))


def score_histogram(values: list[float], *, unit: str, width: int = 640, height: int = 200) -> SafeString:
    """The same chart for scores between 0 and 1, shown as percent in 20 bins (no cut)."""
    percents = [min(100, max(0, round(v * 100))) for v in values]
    label = f"{len(values):,} rows by {unit}, from {min(percents, default=0)} to {max(percents, default=0)}."
    edges = list(range(0, 106, 5))  # the last bin holds 100
    found = counts(percents, edges)
    frame = _Frame(width, height, edges, max(max(found), 1))
    bars = _bin_bars(frame, edges, found, lambda i: f"{edges[i]}–{edges[i + 1] - 1} {escape(unit)}")
    parts = [_svg_head(label, width, height), '<g font-size="11" fill="currentColor">', *_axes(frame, unit),
             *bars, "</g></svg>"]
    return mark_safe("".join(parts))


def _svg_head(label: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart histogram" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )


def _bin_bars(frame: _Frame, edges: list, found: list[int], span: Callable[[int], str]) -> list[str]:
    """One bar per non-empty bin; ``span(i)``: bin i's range as its tooltip says it (unit included)."""
    bars = []
    for i, count in enumerate(found):
        if count:
            left, right = frame.x(edges[i]), frame.x(edges[i + 1])
            bars.append(
                f'<rect x="{left + 0.5:.1f}" y="{frame.y(count):.1f}" width="{max(right - left - 1, 1):.1f}" '
                f'height="{frame.bottom - frame.y(count):.1f}" fill="{COLOURS[0]}"><title>'
                f"{span(i)}: {count:,} rows</title></rect>"
            )
    return bars


def value_histogram(
    values: list[float], *, unit: str, marks: tuple[float, ...] = (), width: int = 640, height: int = 200
) -> SafeString:
    """Any real-valued score (a loss, a margin) in 20 equal bins from its lowest to its highest value;
    ``marks``: values drawn as dashed lines (a band's bounds), those outside the range left out."""
    low, high = min(values, default=0.0), max(values, default=1.0)
    high = high if high > low else low + 1.0
    step = (high - low) / 20
    edges = [low + i * step for i in range(21)]
    edges[-1] = high + step * 1e-6  # the last bin holds the highest value
    found = counts(values, edges)
    label = f"{len(values):,} rows by {unit}, from {low:.3g} to {high:.3g}."
    frame = _Frame(width, height, edges, max(max(found), 1))
    parts = [
        _svg_head(label, width, height),
        '<g font-size="11" fill="currentColor">',
        *_axes(frame, unit),
        *_bin_bars(frame, edges, found, lambda i: f"{edges[i]:.3g}–{edges[i + 1]:.3g} {escape(unit)}"),
    ]
    for mark in (m for m in marks if low <= m <= high):
        at = frame.x(mark)
        parts.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{TOP - 6}" y2="{frame.bottom}" stroke="{COLOURS[1]}" '
            f'stroke-width="2" stroke-dasharray="5 3"><title>{mark:.3g} {escape(unit)}</title></line>'
        )
    return mark_safe("".join([*parts, "</g></svg>"]))
