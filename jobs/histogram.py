"""A server-rendered SVG histogram of tokens per row, with the max-length cut marked.

Bins line up with the cut (it is always a bin edge), so every bar is either kept whole or cut:
kept bars are blue, cut ones orange and hatched, readable without colour.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from jobs.charts import COLOURS, nice_ticks

BINS_BELOW_CUT = 16
MAX_BINS = 32
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 36


def bin_edges(lengths: list[int], cut: int) -> list[int]:
    """Equal-width integer bins starting at 0 with ``cut`` as one edge; the last bin takes the rest."""
    width = max(1, math.ceil(cut / BINS_BELOW_CUT))
    longest = max(lengths, default=0)
    edges = list(range(0, cut + 1, width))
    if edges[-1] != cut:
        edges.append(cut)
    while edges[-1] <= longest and len(edges) <= MAX_BINS:
        edges.append(edges[-1] + width)
    if edges[-1] <= longest:
        edges[-1] = longest + 1  # an overflow bin: everything longer
    return edges


def counts(lengths: list[int], edges: list[int]) -> list[int]:
    found = [0] * (len(edges) - 1)
    for length in lengths:
        found[min(max(bisect_right(edges, length) - 1, 0), len(found) - 1)] += 1
    return found


def length_histogram(lengths: list[int], cut: int, *, width: int = 640, height: int = 220) -> SafeString:
    """An accessible inline SVG: how many rows have how many tokens, and where ``cut`` falls."""
    over = sum(length > cut for length in lengths)
    label = (
        f"Tokens per row for {len(lengths):,} rows: longest {max(lengths, default=0):,}; "
        f"{over:,} longer than {cut:,} tokens would be cut."
    )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart histogram" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
        '<defs><pattern id="cut-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="' + COLOURS[1] + '"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2" stroke-opacity="0.5"/>'
        "</pattern></defs>"
    )
    if not lengths:
        return mark_safe(
            f'{head}<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'fill="currentColor">No rows</text></svg>'
        )
    edges = bin_edges(lengths, cut)
    found = counts(lengths, edges)
    top_count = max(found)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    span = edges[-1] - edges[0]

    def x(value: float) -> float:
        return LEFT + (value - edges[0]) / span * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - value / top_count * plot_h

    parts = [head, '<g font-size="11" fill="currentColor">']
    for tick in nice_ticks(0, top_count, 4):
        if tick == int(tick):
            parts.append(
                f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                f'stroke="currentColor" stroke-opacity="0.15"/>'
                f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{int(tick):,}</text>'
            )
    for tick in nice_ticks(0, edges[-1], 6):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{int(tick):,}</text>'
        )
    parts.append(
        f'<text x="{width - RIGHT}" y="{height - 4}" text-anchor="end" fill-opacity="0.7">tokens</text>'
    )
    for i, count in enumerate(found):
        if not count:
            continue
        left, right = x(edges[i]), x(edges[i + 1])
        fill = "url(#cut-hatch)" if edges[i] >= cut else COLOURS[0]
        parts.append(
            f'<rect x="{left + 0.5:.1f}" y="{y(count):.1f}" width="{max(right - left - 1, 1):.1f}" '
            f'height="{TOP + plot_h - y(count):.1f}" fill="{fill}"><title>{edges[i]:,}–{edges[i + 1] - 1:,} '
            f"tokens: {count:,} rows</title></rect>"
        )
    cut_x = x(cut)
    parts.append(
        f'<line x1="{cut_x:.1f}" x2="{cut_x:.1f}" y1="{TOP - 6}" y2="{TOP + plot_h}" stroke="{COLOURS[1]}" '
        f'stroke-width="2" stroke-dasharray="5 3"/>'
        f'<text x="{cut_x + (-4 if cut_x > width * 0.7 else 4):.1f}" y="{TOP - 10}" '
        f'text-anchor="{"end" if cut_x > width * 0.7 else "start"}" fill="currentColor">'
        f"max length {cut:,}</text>"
    )
    parts.append(
        f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        'stroke="currentColor"/>'
    )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))
