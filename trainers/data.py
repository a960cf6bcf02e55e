"""The datasets users bring: tell what kind of rows a file holds, check every row, load them.

The upload view keeps ``inspect_file(...).to_dict()`` as the validation report; the trainer
calls ``load_rows``. Rows are normalised per task: text {text}; instruction {instruction,
input, output}; chat {messages: [{role, content}]}; preference {prompt, chosen, rejected};
classification {text, label}. Problems name each field as the user wrote it (e.g.
'response', 'conversations[2].value'). Nothing here imports Django.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from trainers.formats import (  # DataError and detect_format are part of this module's API
    NO_LIMITS,
    UNITS,
    DataError,
    ReadLimits,
    Record,
    describe_value,
    detect_format,
    formula_like,
    location,
    read_records,
)
from trainers.text_checks import blank, unstorable

INSTRUCTION_KEYS = ("instruction", "prompt", "question")
INPUT_KEYS = ("input", "context")
OUTPUT_KEYS = ("output", "response", "answer", "completion")
CHAT_KEYS = ("messages", "conversations")
ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant"}
DETECT_SAMPLE_ROWS = 1000
PREVIEW_ROWS = 5
PREVIEW_CHARS = 1000
MAX_LABELS_SHOWN = 100
MAX_COLUMNS = 1000  # rows whose keys are all different must not grow the report without bound
# A row that has only some of the file's fields is incomplete, not of another kind.
_PARTIAL_OF = {("text", "classification")}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str | None
    message: str
    unit: str = "line"  # "row" for JSON arrays and Parquet

    def __str__(self) -> str:
        return f"{location(self.unit, self.line, self.field)}: {self.message}"

    def to_dict(self) -> dict:
        return {**asdict(self), "text": str(self)}


@dataclass
class DataReport:
    filename: str
    format: str
    task: str
    row_count: int
    columns: list[str]
    errors: list[RowError]  # the first max_errors problems
    error_count: int  # all of them
    preview: list[dict]  # the first valid rows, normalised, long texts shortened
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.row_count > 0

    def to_dict(self) -> dict:
        return {**asdict(self), "errors": [error.to_dict() for error in self.errors], "ok": self.ok}


class _Fields:
    """One raw row being normalised: reads fields by name or alias, noting problems and used keys."""

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        self.problems: list[tuple[str | None, str]] = []
        self.used: set[str] = set()

    def problem(self, name: str | None, message: str) -> None:
        self.problems.append((name, message))

    def key(self, names: tuple[str, ...]) -> str | None:
        """The first of ``names`` the row has, marked as used; None if it has none."""
        found = next((name for name in names if name in self.raw), None)
        if found is not None:
            self.used.add(found)
        return found

    def missing(self, names: tuple[str, ...]) -> None:
        aliases = ", ".join(f"'{name}'" for name in names[1:])
        self.problem(names[0], f"missing (also accepted as {aliases})" if aliases else "missing")

    def text(self, *names: str, optional: bool = False) -> str:
        key = self.key(names)
        if key is None:
            if not optional:
                self.missing(names)
            return ""
        return _check_text(self, key, self.raw[key], optional=optional)

    def label(self) -> str | int:
        if self.key(("label",)) is None:
            self.missing(("label",))
            return ""
        value = self.raw["label"]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem("label", f"must be text or a whole number, got {describe_value(value)}")
            return ""
        if isinstance(value, str) and blank(value):
            self.problem("label", "is empty")
        elif isinstance(value, str) and unstorable(value):
            self.problem("label", unstorable(value))
        return value


def _check_text(fields: _Fields, name: str, value: object, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        fields.problem(name, f"must be text, got {describe_value(value)}")
        return ""
    bad = unstorable(value)
    if bad:
        fields.problem(name, bad)
    elif not optional and blank(value):
        fields.problem(name, "is empty" if not value.strip() else "holds only invisible characters")
    return value


def _text_row(fields: _Fields) -> dict:
    return {"text": fields.text("text")}


def _instruction_row(fields: _Fields) -> dict:
    return {
        "instruction": fields.text(*INSTRUCTION_KEYS),
        "input": fields.text(*INPUT_KEYS, optional=True),
        "output": fields.text(*OUTPUT_KEYS),
    }


def _preference_row(fields: _Fields) -> dict:
    row = {name: fields.text(name) for name in ("prompt", "chosen", "rejected")}
    if not fields.problems and row["chosen"].strip() == row["rejected"].strip():
        fields.problem("rejected", "is the same as 'chosen'; a preference pair needs two different answers")
    return row


def _classification_row(fields: _Fields) -> dict:
    return {"text": fields.text("text"), "label": fields.label()}


def _chat_row(fields: _Fields) -> dict:
    key = fields.key(CHAT_KEYS)
    if key is None:
        fields.missing(CHAT_KEYS)
        return {"messages": []}
    value = fields.raw[key]
    if isinstance(value, str):  # a CSV cell or string column holding the JSON array
        with suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else describe_value(value)
        example = '[{"role": "user", "content": "..."}, ...]'
        fields.problem(key, f"must be a list of messages like {example}, got {got}")
        return {"messages": []}
    messages = [_message(fields, f"{key}[{index}]", item) for index, item in enumerate(value)]
    if fields.problems:
        return {"messages": []}
    if not any(message["role"] == "assistant" for message in messages):
        fields.problem(key, "has no assistant turn; a conversation needs at least one reply to learn from")
    return {"messages": messages}


def _message(fields: _Fields, where: str, item: object) -> dict:
    if not isinstance(item, dict):
        fields.problem(where, f"must be an object with 'role' and 'content', got {describe_value(item)}")
        return {}
    role_key = "role" if "role" in item or "from" not in item else "from"
    content_key = "content" if "content" in item or "value" not in item else "value"
    if role_key not in item:
        fields.problem(f"{where}.role", "missing")
        return {}
    role = ROLES.get(item[role_key].lower()) if isinstance(item[role_key], str) else None
    if role is None:
        known = "system, user or assistant (or ShareGPT's human and gpt)"
        fields.problem(f"{where}.{role_key}", f"unknown role {describe_value(item[role_key])}; use {known}")
        return {}
    if content_key not in item:
        fields.problem(f"{where}.content", "missing")
        return {}
    content = _check_text(fields, f"{where}.{content_key}", item[content_key], optional=role == "system")
    return {"role": role, "content": content}


TASKS: dict[str, Callable[[_Fields], dict]] = {
    "text": _text_row,
    "instruction": _instruction_row,
    "chat": _chat_row,
    "preference": _preference_row,
    "classification": _classification_row,
}
_MOST_SPECIFIC_FIRST = ("preference", "chat", "instruction", "classification", "text")


def row_task(raw: dict) -> tuple[str, str] | None:
    """The task a row's keys point to, most specific first, and the key that shows it."""
    if "chosen" in raw and "rejected" in raw:
        return "preference", "chosen"
    chat_key = next((key for key in CHAT_KEYS if key in raw), None)
    if chat_key:
        return "chat", chat_key
    output_key = next((key for key in OUTPUT_KEYS if key in raw), None)
    if output_key and any(key in raw for key in INSTRUCTION_KEYS):
        return "instruction", output_key
    if "text" in raw:
        return ("classification", "label") if "label" in raw else ("text", "text")
    return None


@dataclass
class _Checked:
    row: dict | None
    problems: list[tuple[str | None, str]]
    used: set[str]


def _check(record: Record, task: str) -> _Checked:
    """Normalise one record for ``task``, or say what is wrong with it."""
    if record.value is None:
        return _Checked(None, [(None, record.error or "unreadable")], set())
    fields = _Fields(record.value)
    row = TASKS[task](fields)
    if not fields.problems:
        return _Checked(row, [], fields.used)
    other = row_task(record.value)
    if other and other[0] != task and (other[0], task) not in _PARTIAL_OF:
        message = f"this row looks like {other[0]} data, but the file holds {task} data"
        message += "; put each kind of data in its own file"
        return _Checked(None, [(other[1], message)], fields.used)
    return _Checked(None, fields.problems, fields.used)


def _require_task(task: str, name: str) -> None:
    if task not in TASKS:
        raise DataError(f"unknown task '{task}'; expected one of {', '.join(TASKS)}", file=name)


def detect_task(
    path: Path, format: str, filename: str | None = None, *, limits: ReadLimits = NO_LIMITS
) -> str:
    """The task most of the first rows fit; ties go to the most specific."""
    name = filename or path.name
    votes: Counter[str] = Counter()
    columns: dict[str, None] = {}
    first_bad: Record | None = None
    with closing(read_records(path, format, name, limits=limits)) as records:
        for record in islice(records, DETECT_SAMPLE_ROWS):
            if record.value is None:
                first_bad = first_bad or record
                continue
            columns.update(dict.fromkeys(record.value))
            found = row_task(record.value)
            if found:
                votes[found[0]] += 1
    if votes:
        return max(_MOST_SPECIFIC_FIRST, key=lambda task: votes[task])
    if first_bad is not None:
        raise DataError(first_bad.error or "unreadable", file=name, line=first_bad.number, unit=UNITS[format])
    shown = ", ".join(f"'{column}'" for column in list(columns)[:20])
    raise DataError(
        f"could not tell what kind of data this is from its columns ({shown}); use 'text' for plain text, "
        "'instruction' and 'output' for instructions, 'messages' for chats, 'prompt', 'chosen' and "
        "'rejected' for preference pairs, or 'text' and 'label' for classification",
        file=name,
    )


def iter_rows(path: Path, format: str, task: str, *, filename: str | None = None) -> Iterator[dict]:
    """Normalised rows, one at a time; DataError at the first bad row."""
    name = filename or path.name
    _require_task(task, name)
    for record in read_records(path, format, name):
        checked = _check(record, task)
        if checked.row is None:
            field_name, message = checked.problems[0]
            raise DataError(message, file=name, line=record.number, field=field_name, unit=UNITS[format])
        yield checked.row


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (datasets, weights, the trainer's outputs)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_rows(path: Path, format: str, task: str, *, filename: str | None = None) -> list[dict]:
    """Every row of the file, normalised for ``task``; DataError at the first bad row."""
    return list(iter_rows(path, format, task, filename=filename))


def inspect_file(
    path: Path,
    filename: str | None = None,
    *,
    max_errors: int = 50,
    task: str | None = None,
    limits: ReadLimits = NO_LIMITS,
) -> DataReport:
    """Detect format and task (or check against ``task``), validate every row, summarise.

    Row problems go into the report; file-level problems raise DataError. ``limits`` bound
    what the file may unpack to (the upload passes the operator's; see trainers.formats).
    """
    name = filename or path.name
    fmt = detect_format(path, filename)
    if task is None:
        task = detect_task(path, fmt, name, limits=limits)
    _require_task(task, name)
    scan = _Scan(task, fmt, max_errors)
    for record in read_records(path, fmt, name, limits=limits):
        scan.add(record)
    if task == "classification" and len(scan.labels) == 1 and not scan.invalid_rows:
        only = next(iter(scan.labels))
        raise DataError(
            f"every row has the same label ({only!r}); a classifier needs rows of two or more labels",
            file=name,
        )
    return scan.report(name)


@dataclass
class _Span:
    """Running min / max / mean of a length, without keeping the values."""

    min: int = 0
    max: int = 0
    total: int = 0
    count: int = 0

    def add(self, value: int) -> None:
        self.min = value if not self.count else min(self.min, value)
        self.max = max(self.max, value)
        self.total += value
        self.count += 1

    def to_dict(self) -> dict:
        mean = round(self.total / self.count, 1) if self.count else 0
        return {"min": self.min, "max": self.max, "mean": mean}


class _Scan:
    """What inspect_file learns while reading a file once, row by row."""

    def __init__(self, task: str, fmt: str, max_errors: int) -> None:
        self.task, self.fmt, self.max_errors = task, fmt, max_errors
        self.row_count = 0
        self.errors: list[RowError] = []
        self.error_count = 0
        self.invalid_rows = 0
        self.preview: list[dict] = []
        self.columns: dict[str, None] = {}
        self.kept_columns: dict[str, None] = {}  # the columns of the valid rows
        self.used: set[str] = set()
        self.chars: dict[str, _Span] = {}
        self.turns = _Span()
        self.labels: Counter[str] = Counter()
        self.formula_cells = 0
        self.formula_lines: list[int] = []

    def add(self, record: Record) -> None:
        self.row_count += 1
        if record.value is not None:
            _remember(self.columns, record.value)
            if self.fmt == "csv":
                self._look_for_formulas(record)
        checked = _check(record, self.task)
        self.used |= checked.used
        if checked.row is None:
            self._fail(record.number, checked.problems)
            return
        _remember(self.kept_columns, record.value or {})
        self._measure(checked.row)
        if len(self.preview) < PREVIEW_ROWS:
            self.preview.append(_shorten(checked.row))

    def _look_for_formulas(self, record: Record) -> None:
        found = sum(formula_like(cell) for cell in (record.value or {}).values())
        if found:
            self.formula_cells += found
            self.formula_lines.append(record.number)

    def _fail(self, number: int, problems: list[tuple[str | None, str]]) -> None:
        self.invalid_rows += 1
        self.error_count += len(problems)
        for field_name, message in problems[: max(0, self.max_errors - len(self.errors))]:
            self.errors.append(RowError(number, field_name, message, UNITS[self.fmt]))

    def _measure(self, row: dict) -> None:
        if self.task == "chat":
            self.chars.setdefault("messages", _Span()).add(sum(len(m["content"]) for m in row["messages"]))
            self.turns.add(len(row["messages"]))
            return
        for name, value in row.items():
            if name == "label":
                self.labels[str(value)] += 1
            else:
                self.chars.setdefault(name, _Span()).add(len(value))

    def report(self, filename: str) -> DataReport:
        return DataReport(
            filename=filename,
            format=self.fmt,
            task=self.task,
            row_count=self.row_count,
            columns=list(self.columns),
            errors=self.errors,
            error_count=self.error_count,
            preview=self.preview,
            stats=self._stats(),
        )

    def _stats(self) -> dict:
        stats: dict = {
            "valid_rows": self.row_count - self.invalid_rows,
            "invalid_rows": self.invalid_rows,
            "chars": {name: span.to_dict() for name, span in self.chars.items()},
            "ignored_columns": [column for column in self.kept_columns if column not in self.used],
        }
        if self.task == "chat":
            stats["turns"] = self.turns.to_dict()
        if self.task == "classification":
            stats["labels"] = dict(self.labels.most_common(MAX_LABELS_SHOWN))
            stats["label_count"] = len(self.labels)
        if self.fmt == "csv":
            stats["formula_like_cells"] = {"count": self.formula_cells, "lines": self.formula_lines[:20]}
        stats["warnings"] = self._warnings(stats)
        return stats

    def _warnings(self, stats: dict) -> list[str]:
        warnings = []
        if stats["ignored_columns"]:
            shown = ", ".join(f"'{column}'" for column in stats["ignored_columns"][:20])
            warnings.append(f"These columns are not used for {self.task} data and will be ignored: {shown}.")
        if self.formula_lines:
            lines = ("line " if len(self.formula_lines) == 1 else "lines ") + ", ".join(
                str(number) for number in self.formula_lines[:10]
            )
            warnings.append(
                f"Formula-like cells, starting with =, +, - or @: {self.formula_cells} ({lines}). "
                "Spreadsheet programs may run them as formulas; check they are meant as plain text."
            )
        return warnings


def _remember(columns: dict[str, None], row: dict) -> None:
    if len(columns) < MAX_COLUMNS:
        columns.update(dict.fromkeys(row))


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > PREVIEW_CHARS:
        return value[:PREVIEW_CHARS] + "…"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value
