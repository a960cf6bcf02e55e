"""Filters for numbers the pages show: metric values, signed changes, token counts."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def metric(value: float | None) -> str:
    """A metric value to four significant figures; small ones in scientific notation."""
    if value is None or value == "":
        return ""
    value = float(value)
    if value and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


@register.filter
def signed(value: float | None) -> str:
    """A change with its sign: '+0.12', '−3.4'."""
    if value is None:
        return ""
    text = metric(abs(value))
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else "0"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{float(value):.{int(digits)}f}%"


@register.filter
def thousands(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value) == int(value) else f"{value:,.2f}"
