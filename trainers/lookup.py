"""The one lookup of every registry (training methods, objectives, merge and quantize methods):
an unknown name is an error that says what was asked for and lists the known names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(entries: Mapping[str, T], name: str, error: type[Exception], what: str, where: str = "") -> T:
    """``entries[name]``, or ``error("[where: ]unknown <what> 'name'; known <what's last word>s: ...")``."""
    if name in entries:
        return entries[name]
    prefix = f"{where}: " if where else ""
    known = f"{what.split()[-1]}s"
    raise error(f"{prefix}unknown {what} {name!r}; known {known}: {', '.join(entries)}")
