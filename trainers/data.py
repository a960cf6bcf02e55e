"""The datasets users bring: tell what kind of rows a file holds, check every row, load them.

The upload view keeps ``inspect_file(...).to_dict()`` as the validation report; the trainer
calls ``load_rows``. Rows are normalised per task: text {text}; instruction {instruction,
input, output}; chat {messages: [{role, content}]}; preference {prompt, chosen, rejected};
classification {text, label}. Problems name each field as the user wrote it (e.g.
'response', 'conversations[2].value'); the row shapes and their checks are trainers/rows.py.
Nothing here imports Django.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
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
    detect_format,
    formula_like,
    location,
    read_records,
)
from trainers.rows import MOST_SPECIFIC_FIRST, check_record, require_task, row_task

DETECT_SAMPLE_ROWS = 1000
PREVIEW_ROWS = 5
PREVIEW_CHARS = 1000
MAX_LABELS_SHOWN = 100
MAX_COLUMNS = 1000  # rows whose keys are all different must not grow the report without bound
# A row that has only some of the file's fields is incomplete, not of another kind.


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
        return max(MOST_SPECIFIC_FIRST, key=lambda task: votes[task])
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
    require_task(task, name)
    for record in read_records(path, format, name):
        checked = check_record(record, task)
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
    require_task(task, name)
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
        checked = check_record(record, self.task)
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
            if name == "label" or (name == "answer" and isinstance(value, int)):  # multiple choice: an index
                self.labels[str(value)] += 1
            elif name == "choices":
                self.chars.setdefault(name, _Span()).add(sum(len(choice) for choice in value))
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
