"""What each step reads of a row: its whole text (hashing, embedding) and its answer (quality)."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def text_of(row: dict, task: str) -> str:
    """One string per row, the parts a duplicate would repeat, in a fixed order."""
    if task in ("text", "classification"):
        return row["text"]
    if task == "instruction":
        return "\n".join(part for part in (row["instruction"], row.get("input") or "", row["output"]) if part)
    if task == "preference":
        return "\n".join((row["prompt"], row["chosen"], row["rejected"]))
    return "\n".join(f"{m['role']}: {m['content']}" for m in row["messages"])


def answer_of(row: dict, task: str) -> str | None:
    """The part a model learns to write, where the task has one (None for text and labels)."""
    if task == "instruction":
        return row["output"]
    if task == "preference":
        return row["chosen"]
    if task == "chat":
        replies = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        return replies[-1] if replies else ""
    return None


def normalise(text: str) -> str:
    """Case, accents' forms, punctuation and runs of spaces do not make two rows different."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def words(text: str) -> list[str]:
    return normalise(text).split()


def preview(text: str, limit: int = 200) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
