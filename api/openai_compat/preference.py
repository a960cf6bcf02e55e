"""OpenAI's preference (DPO) file format, as Hone's prompt / chosen / rejected rows.

OpenAI writes a pair as ``{"input": {"messages": [...]}, "preferred_output": [assistant message],
"non_preferred_output": [assistant message]}``. Hone's preference objective trains on untemplated
prompt / chosen / rejected text (trainers/objectives/preference.py), so a pair's input is one user
message and each output one assistant message; anything else is refused naming its line and field,
before the rows go through the same checks as every upload (jobs.data.datasets). Chat-format files
(``{"messages": [...]}``) need no translation: Hone reads them as they are.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.core.files import File

from jobs.data.datasets import read_limits
from trainers import formats

OPENAI_KEYS = ("input", "preferred_output", "non_preferred_output")
MAX_PROBLEMS = 10


class FileProblems(ValueError):
    """Lines of an OpenAI preference file that cannot become Hone rows: ``[(line, field, message)]``."""

    def __init__(self, filename: str, problems: list[tuple[int, str, str]]) -> None:
        self.problems = problems
        shown = "; ".join(
            f"line {line}, {field}: {message}" for line, field, message in problems[:MAX_PROBLEMS]
        )
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(f"{filename}: {shown}{more}; nothing was stored")


def first_row(upload) -> dict | None:
    """The upload's first row when it is a JSON Lines file whose first line reads as an object
    within the row limit; None otherwise (Hone's own checks then name what is wrong)."""
    if not (upload.name or "").lower().endswith((".jsonl", ".ndjson")):
        return None
    upload.seek(0)
    try:
        first = next(formats.jsonl_stream(upload, upload.name, read_limits()), None)
    except formats.DataError:
        first = None
    upload.seek(0)
    return first.value if first is not None else None


def is_openai_preference(upload) -> bool:
    """Whether the upload's first row is in OpenAI's preference format."""
    first = first_row(upload)
    return first is not None and "preferred_output" in first


def _text_of(value: object, role: str) -> tuple[str | None, str | None]:
    """The one message's text in ``value`` (a list of one message of ``role``), or the problem."""
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        return None, f"must be a list of exactly one {role} message"
    message = value[0]
    if message.get("role") != role:
        return None, f"[0].role must be '{role}', got {json.dumps(message.get('role'))}"
    if not isinstance(message.get("content"), str):
        return None, "[0].content must be text (content parts, tool calls and images are not trained by Hone)"
    return message["content"], None


def _row(raw: object) -> tuple[dict | None, list[tuple[str, str]]]:
    if not isinstance(raw, dict):
        return None, [("row", "must be a JSON object")]
    problems = [(key, "missing") for key in OPENAI_KEYS if key not in raw]
    if problems:
        return None, problems
    given = raw["input"]
    messages = given.get("messages") if isinstance(given, dict) else None
    prompt, problem = _text_of(messages, "user")
    found: list[tuple[str, str]] = []
    if problem:
        found.append(("input.messages", problem + "; Hone trains preferences on a single-turn prompt"))
    chosen, problem = _text_of(raw["preferred_output"], "assistant")
    if problem:
        found.append(("preferred_output", problem))
    rejected, problem = _text_of(raw["non_preferred_output"], "assistant")
    if problem:
        found.append(("non_preferred_output", problem))
    if found:
        return None, found
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}, []


def _encoded(row: dict) -> bytes:
    """One JSONL line; text Hone's checks refuse (a lone surrogate) kept as the escape it came as."""
    try:
        return json.dumps(row, ensure_ascii=False).encode() + b"\n"
    except UnicodeEncodeError:
        return json.dumps(row).encode() + b"\n"


def rewritten(upload, translate: Callable[[object], tuple[dict | None, list[tuple[str, str]]]]) -> File:
    """The upload's non-blank lines, each read within the row limit, parsed and ``translate``d into
    a Hone row, as a JSONL file of the same name with the same line numbers (blank lines kept);
    FileProblems naming line and field when any line cannot be."""
    name = Path(upload.name or "upload.jsonl").name
    problems: list[tuple[int, str, str]] = []
    out = tempfile.NamedTemporaryFile("w+b", suffix=".jsonl")  # noqa: SIM115 (handed on open; removed when closed)
    written = 0
    upload.seek(0)
    try:
        for record in formats.jsonl_stream(upload, name, read_limits()):
            row, found = (None, [("row", record.error)]) if record.error else translate(record.value)
            problems += [(record.number, field, message) for field, message in found]
            if row is not None:
                out.write(b"\n" * (record.number - written - 1) + _encoded(row))
                written = record.number
    except formats.DataError as exc:
        problems.append((exc.line or 1, exc.field or "row", exc.message))
    if problems:
        out.close()
        raise FileProblems(name, problems)
    out.seek(0)
    return File(out, name=name)


def translated(upload) -> File:
    """The upload as a JSONL file of Hone preference rows (same name), or FileProblems."""
    return rewritten(upload, _row)
