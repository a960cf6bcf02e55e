"""A sweep's trials drawn as small server-rendered SVG scatters, one per searched parameter: the
parameter's value across, the metric up. Each trial is a dot (filled: complete; hollow: pruned, at
its last reported value), so where the good values of each parameter lie shows at a glance.

Numbers go on a linear axis, or a log one where the space searched the place on a log scale;
choices (method, LoRA's target modules, DoRA on or off) go at evenly spaced places in the space's
own order. No JavaScript; each chart has a text alternative naming the best value seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from jobs.web.charts import COLOURS, _Frame, _rule, _span, nice_ticks, tick_labels
from trainers.sweep_space import Choices, dimension

WIDTH, HEIGHT = 300, 190


@dataclass(frozen=True)
class Dot:
    value: object  # the parameter's value in this trial
    metric: float
    pruned: bool


def _label(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


class _Axis:
    """Where a parameter's value goes across: an index of its choices, or a (log) number."""

    def __init__(self, raw: dict, dots: list[Dot]) -> None:
        dim = dimension(raw)
        self.choices = [_label(c) for c in dim.choices] if isinstance(dim, Choices) else None
        self.log = bool(getattr(dim, "log", False))
        if self.choices is not None:
            self.span = (-0.5, len(self.choices) - 0.5)
        else:
            self.span = _span([self.position(d.value) for d in dots], pad=True)

    def position(self, value: object) -> float:
        if self.choices is not None:
            return float(self.choices.index(_label(value)))
        return math.log10(float(value)) if self.log else float(value)

    def ticks(self) -> list[tuple[float, str]]:
        if self.choices is not None:
            return [
                (float(i), name if len(name) <= 18 else name[:16] + "…")
                for i, name in enumerate(self.choices)
            ]
        ticks = nice_ticks(*self.span, count=4)
        if self.log:
            return [(t, f"{10**t:.2g}") for t in ticks]
        return list(zip(ticks, tick_labels(ticks), strict=True))


def _axes(frame: _Frame, axis: _Axis, place: str) -> list[str]:
    parts = [
        '<g class="chart-axes" font-size="10" fill="currentColor">',
        _rule(frame.left, frame.bottom, frame.right, frame.bottom),
        _rule(frame.left, frame.top, frame.left, frame.bottom),
    ]
    ticks = nice_ticks(*frame.ys, count=4)
    for tick, label in zip(ticks, tick_labels(ticks), strict=True):
        y = frame.y(tick)
        parts.append(_rule(frame.left, y, frame.right, y, ' stroke-opacity="0.15"'))
        parts.append(f'<text x="{frame.left - 5}" y="{y + 3:.1f}" text-anchor="end">{label}</text>')
    for tick, label in axis.ticks():
        x = frame.x(tick)
        parts.append(_rule(x, frame.bottom, x, frame.bottom + 4))
        parts.append(f'<text x="{x:.1f}" y="{frame.bottom + 15}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="{frame.left}" y="14" font-size="12">{escape(place)}</text></g>')
    return parts


def parameter_scatter(place: str, raw: dict, dots: list[Dot], *, metric: str, best: Dot | None) -> SafeString:
    """One parameter's trials against the metric, as an accessible inline SVG."""
    told = f"best {metric} {best.metric:.4g} at {_label(best.value)}" if best else "no complete trial yet"
    label = f"{place} against {metric}, {len(dots)} trials; {told}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart sweep-scatter" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )
    if not dots:
        return mark_safe(
            f'{head}<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="12" '
            f'fill="currentColor" fill-opacity="0.7">No trial has reported yet</text></svg>'
        )
    axis = _Axis(raw, dots)
    frame = _Frame(WIDTH, HEIGHT, axis.span, _span([d.metric for d in dots], pad=True))
    frame.top = 24
    parts = [head, *_axes(frame, axis, place)]
    for dot in dots:
        x, y = frame.x(axis.position(dot.value)), frame.y(dot.metric)
        fill = "none" if dot.pruned else COLOURS[0]
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{fill}" '
            f'stroke="{COLOURS[0]}" stroke-width="1.5"/>'
        )
    if best is not None:
        x, y = frame.x(axis.position(best.value)), frame.y(best.metric)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{COLOURS[1]}" stroke-width="2"/>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
