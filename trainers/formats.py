"""Reading the files users upload: tell the format, then stream their records.

A record is one would-be row and where the user finds it. JSON Lines and CSV count lines; in
CSV the header is line 1 and a quoted cell that spans several physical lines still makes one
line, as a spreadsheet shows it. JSON arrays and Parquet count rows from 1. A problem that
spoils the whole file raises DataError; a record that cannot be parsed is yielded with its
error, so that validation goes on past it and can list every bad line at once.

Nothing here imports Django: the upload view and the trainer subprocess both use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

FORMATS = ("jsonl", "json", "csv", "parquet")
UNITS = {"jsonl": "line", "csv": "line", "json": "row", "parquet": "row"}
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SAVE_AS = "save it as .jsonl, .json, .csv or .parquet"
_EXCEL = f"Excel workbooks cannot be read; in Excel choose File > Save As > 'CSV UTF-8', or {SAVE_AS}"
_PACKED = f"compressed files cannot be read; unpack it and upload the data file ({SAVE_AS})"
# gzip, bzip2, xz, zstd, 7-Zip, RAR: the first bytes of each (a zip is told apart above).
ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"(\xb5/\xfd", b"7z\xbc\xaf\x27\x1c", b"Rar!")
TOO_DEEP = "the JSON is nested too deeply to be data rows"
HUGE_NUMBER = "holds a number with more than 4,300 digits; write such values as text, in quotes"
UNSUPPORTED = {".xlsx": _EXCEL, ".xls": _EXCEL, ".zip": _PACKED, ".gz": _PACKED}
BOM = b"\xef\xbb\xbf"
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64 * 1024
EXAMPLE_ROW = '{"text": "..."}'
FORMULA_STARTS = ("=", "+", "-", "@")


class DataError(ValueError):
    """A problem with a whole file, or the first bad row when loading for training.

    ``str(e)`` is a full sentence naming the file, the line or row, and the field, e.g.
    "train.jsonl, line 7: invalid JSON (Expecting ',' delimiter at column 15)".
    """

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.unit = unit
        where = location(unit, line, field)
        super().__init__(f"{file}, {where}: {message}" if where else f"{file}: {message}")


MB = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """What reading one file may unpack to, in bytes; None: no bound.

    The upload checks every file against the operator's limits (HONE_MAX_*_MB), so the
    trainer, reading a file that was accepted, reads with none. Each refusal names the limit
    and the setting that raises it, so a user knows what to change or whom to ask."""

    row_bytes: int | None = None  # one row: a JSON line, a CSV record, a Parquet row
    cell_bytes: int | None = None  # one field's value
    decoded_bytes: int | None = None  # everything a file decodes to (Parquet pages are compressed)
    json_bytes: int | None = None  # a .json file is parsed whole; JSON Lines are read a line at a time
    names: dict = field(
        default_factory=lambda: {
            "row_bytes": "HONE_MAX_ROW_MB",
            "cell_bytes": "HONE_MAX_CELL_MB",
            "decoded_bytes": "HONE_MAX_DECODED_MB",
            "json_bytes": "HONE_MAX_JSON_MB",
        },
        compare=False,
    )

    def says(self, which: str) -> str:
        """'the 16 MB limit (HONE_MAX_ROW_MB)'"""
        return f"the {_size(getattr(self, which))} limit ({self.names[which]})"


NO_LIMITS = ReadLimits()


def _size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


@dataclass(frozen=True)
class Record:
    """One would-be row: the parsed object, or why it could not be parsed."""

    number: int
    value: dict | None
    error: str | None = None


class _NotUtf8(Exception):
    def __init__(self, line: int, offset: int, byte: int) -> None:
        super().__init__(line, offset, byte)
        self.line, self.offset, self.byte = line, offset, byte


def location(unit: str, line: int | None, field: str | None) -> str:
    """'line 7, field 'output'', 'row 3', "field 'text'" or '' when there is nothing to name."""
    parts = [] if line is None else [f"{unit} {line}"]
    if field is not None:
        parts.append(f"field '{field}'")
    return ", ".join(parts)


def describe_value(value: object) -> str:
    """A value as a user would name it: 'a number (42)', 'null', 'a list'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"true/false ({json.dumps(value)})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ({value[:40]!r})"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def detect_format(path: Path, filename: str | None = None) -> str:
    """The file's format: from the name's extension, else from its first bytes."""
    name = filename or path.name
    suffix = Path(name).suffix.lower()
    if suffix in UNSUPPORTED:
        raise DataError(UNSUPPORTED[suffix], file=name)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=name)
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    _refuse_archives(head, name)  # whatever the name says: never unpack, never read it as text
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    return _sniff_format(head, name)


def _refuse_archives(head: bytes, name: str) -> None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):  # a zip: entries, empty, spanned
        is_workbook = b"xl/" in head or b"[Content_Types].xml" in head
        raise DataError(_EXCEL if is_workbook else _PACKED, file=name)
    if head.startswith(ARCHIVE_MAGIC):
        raise DataError(_PACKED, file=name)


def _sniff_format(head: bytes, name: str) -> str:
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if b"\x00" in head:  # binary, and not an archive (those are refused before)
        raise DataError(f"could not tell the format of this file; {SAVE_AS}", file=name)
    # The sample may end inside a multi-byte character; real encoding errors surface when reading.
    text = head.removeprefix(BOM).decode("utf-8", errors="replace").lstrip()
    if not text:
        raise DataError("the file has only blank lines", file=name)
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        return "jsonl" if _is_json_object(text.split("\n", 1)[0]) else "json"
    return "csv"


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def read_records(
    path: Path, format: str, filename: str | None = None, *, limits: ReadLimits = NO_LIMITS
) -> Iterator[Record]:
    """Stream the records of a file in a known format; DataError for file-level problems."""
    name = filename or path.name
    if format not in READERS:
        raise DataError(f"unknown format '{format}'; expected one of {', '.join(FORMATS)}", file=name)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=name)
    return READERS[format](path, name, limits)


def _utf8_error(exc: _NotUtf8, name: str, line: int) -> DataError:
    if exc.offset == 0 and exc.byte in (0xFE, 0xFF):
        return DataError("the file is saved as UTF-16; save it as UTF-8 instead", file=name, line=line)
    message = (
        f"the file is not UTF-8 text (byte 0x{exc.byte:02X} at byte offset {exc.offset}); "
        "save it with UTF-8 encoding (in Excel: 'CSV UTF-8')"
    )
    return DataError(message, file=name, line=line)


class _TooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _decoded_lines(fh: BinaryIO, limit: int | None = None) -> Iterator[str]:
    """The file's lines as text, line endings kept; a leading UTF-8 BOM is dropped.

    A line longer than ``limit`` bytes raises _TooLong before more of it is read."""
    offset = 0
    read = -1 if limit is None else limit + len(BOM) + 2  # room for the BOM and a CRLF
    for number, raw in enumerate(iter(lambda: fh.readline(read), b""), start=1):
        if limit is not None and len(raw.rstrip(b"\r\n").removeprefix(BOM if number == 1 else b"")) > limit:
            raise _TooLong(number)
        if number == 1 and raw.startswith(BOM):
            raw, offset = raw[len(BOM) :], len(BOM)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _NotUtf8(number, offset + exc.start, raw[exc.start]) from None
        offset += len(raw)


def _nonempty(records: Iterable[Record], name: str, message: str) -> Iterator[Record]:
    seen = False
    for record in records:
        seen = True
        yield record
    if not seen:
        raise DataError(message, file=name)


def _too_long(exc: _TooLong, name: str, limits: ReadLimits) -> DataError:
    message = f"the line is longer than {limits.says('row_bytes')} for one row; is it really one row?"
    return DataError(message, file=name, line=exc.line)


def _jsonl_records(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    return _nonempty(_jsonl_lines(path, name, limits), name, "the file has only blank lines, no JSON rows")


def _jsonl_lines(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    with path.open("rb") as fh:
        yield from jsonl_stream(fh, name, limits)


def jsonl_stream(fh: BinaryIO, name: str, limits: ReadLimits) -> Iterator[Record]:
    """The non-blank lines of an open JSON Lines file as Records, numbered as in the file, each
    line bounded by ``limits.row_bytes`` before it is parsed; DataError naming the line for a
    line over the limit or not UTF-8."""
    try:
        for number, text in enumerate(_decoded_lines(fh, limits.row_bytes), start=1):
            if text.strip():
                yield _parse_json_line(number, text)
    except _NotUtf8 as exc:
        raise _utf8_error(exc, name, exc.line) from None
    except _TooLong as exc:
        raise _too_long(exc, name, limits) from None


def _at_column(message: str, column: int) -> str:
    """json's message and where: some messages end in "at" already ("Unterminated string starting at")."""
    return f"{message} column {column}" if message.endswith(" at") else f"{message} at column {column}"


def _parse_json_line(number: int, text: str) -> Record:
    text = text.rstrip("\r\n")  # else an object cut short is blamed on "line 2, column 1"
    try:
        value = json.loads(text)
    except RecursionError:
        return Record(number, None, TOO_DEEP)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            message = f"invalid JSON: the line ends before the value is complete ({exc.msg})"
            return Record(number, None, message)
        return Record(number, None, f"invalid JSON ({_at_column(exc.msg, exc.pos + 1)})")
    except ValueError:  # Python refuses to turn more than 4,300 digits into a number
        return Record(number, None, HUGE_NUMBER)
    if not isinstance(value, dict):
        return Record(number, None, f"expected a JSON object like {EXAMPLE_ROW}, got {describe_value(value)}")
    return Record(number, value)


def _json_records(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    size = path.stat().st_size
    if limits.json_bytes is not None and size > limits.json_bytes:
        raise DataError(
            f"a JSON array is read whole, and this file ({_size(size)}) is over {limits.says('json_bytes')}; "
            "save it as JSON Lines (.jsonl), one row per line",
            file=name,
        )
    items = _top_level_rows(_load_json(path, name), name)
    records = (
        Record(number, item)
        if isinstance(item, dict)
        else Record(number, None, f"expected an object like {EXAMPLE_ROW}, got {describe_value(item)}")
        for number, item in enumerate(items, start=1)
    )
    return _nonempty(records, name, "the JSON array is empty; it holds no rows")


def _load_json(path: Path, name: str) -> object:
    data = path.read_bytes()
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        bad = _NotUtf8(data.count(b"\n", 0, offset) + 1, offset, data[offset])
        raise _utf8_error(bad, name, bad.line) from None
    if not text.strip():
        raise DataError("the file has only blank lines", file=name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data":
            hint = "; the file holds more than one JSON value: if it has one object per line, name it .jsonl"
        message = f"invalid JSON ({_at_column(exc.msg, exc.colno)}){hint}"
        raise DataError(message, file=name, line=exc.lineno) from None
    except RecursionError:
        raise DataError(TOO_DEEP, file=name) from None
    except ValueError:
        raise DataError(f"the file {HUGE_NUMBER}", file=name) from None


def _top_level_rows(value: object, name: str) -> list:
    """The list of rows: the array itself, or the one list inside an object like {"data": [...]}."""
    if isinstance(value, list):
        return value
    expected = 'the top level must be an array of objects, like [{"text": "..."}, ...]'
    if not isinstance(value, dict):
        raise DataError(f"{expected}; found {describe_value(value)}", file=name)
    lists = [key for key, item in value.items() if isinstance(item, list)]
    if lists in (["messages"], ["conversations"]):
        raise DataError(
            f"the file holds a single conversation; put conversations in an array, "
            f'like [{{"{lists[0]}": [...]}}, ...], or one per line in a .jsonl file',
            file=name,
        )
    if len(lists) == 1:
        return value[lists[0]]
    found = ", ".join(f"'{key}'" for key in (lists or list(value))[:10]) or "no keys"
    what = "several lists" if lists else "no list of rows"
    message = f"{expected}, or an object with one list of rows; found an object with {what} ({found})"
    raise DataError(message, file=name)


def formula_like(cell: object) -> bool:
    """A cell a spreadsheet may run as a formula: starts with = + - @ and is not just a number like -1."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _csv_records(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    from trainers.read_csv import csv_records

    return csv_records(path, name, limits)


def _parquet_records(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    from trainers.read_parquet import parquet_rows  # pyarrow is imported only for Parquet files

    return _nonempty(parquet_rows(path, name, limits), name, "the Parquet file has no rows")


READERS = {
    "jsonl": _jsonl_records,
    "json": _json_records,
    "csv": _csv_records,
    "parquet": _parquet_records,
}
