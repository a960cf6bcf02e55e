"""CSV (and tab- or semicolon-separated) records: {column: cell}, numbered by line as a
spreadsheet shows them (the header is line 1; a quoted cell spanning lines is one line)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from trainers.formats import (
    DataError,
    ReadLimits,
    Record,
    _decoded_lines,
    _NotUtf8,
    _too_long,
    _TooLong,
    _utf8_error,
)

CSV_DELIMITERS = (",", "\t", ";")  # on a tie, the first wins
CSV_FIELD_LIMIT = 64 * 1024 * 1024  # the csv module's default (128 KiB) is too small for long documents


def csv_records(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    """Rows as {column: cell}; blank lines are skipped but keep their line numbers."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    header: list[str] | None = None
    seen = False
    with path.open("rb") as fh:
        for number, cells in _csv_rows(fh, name, limits):
            _check_cells(cells, number, name, limits)
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _csv_header(cells, name, number)
                continue
            seen = True
            yield _csv_record(number, header, cells)
    if header is None:
        raise DataError("the file has only blank lines", file=name)
    if not seen:
        raise DataError("the file has a header row but no data rows", file=name)


def _check_cells(cells: list[str], number: int, name: str, limits: ReadLimits) -> None:
    """Bytes of one CSV record against the row and cell limits (a quoted cell may span lines)."""
    if limits.cell_bytes is None and limits.row_bytes is None:
        return
    sizes = [len(cell.encode("utf-8", "surrogatepass")) for cell in cells]
    if limits.cell_bytes is not None and sizes and max(sizes) > limits.cell_bytes:
        column = sizes.index(max(sizes)) + 1
        message = f"cell {column} is larger than {limits.says('cell_bytes')} for one cell"
        raise DataError(message, file=name, line=number)
    if limits.row_bytes is not None and sum(sizes) > limits.row_bytes:
        raise DataError(
            f"the row is larger than {limits.says('row_bytes')} for one row", file=name, line=number
        )


def _csv_rows(fh: BinaryIO, name: str, limits: ReadLimits) -> Iterator[tuple[int, list[str]]]:
    lines = _decoded_lines(fh, limits.row_bytes)
    number = 0
    try:
        first = next(lines, "")
        # Tab- and semicolon-separated files share the "csv" format; the header tells the separator.
        delimiter = max(CSV_DELIMITERS, key=first.count)
        reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except _NotUtf8 as exc:
        raise _utf8_error(exc, name, number + 1) from None
    except _TooLong as exc:
        raise _too_long(exc, name, limits) from None
    except csv.Error as exc:
        raise DataError(_csv_problem(exc), file=name, line=number + 1) from None


def _csv_problem(exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return "a quoted cell starting here is never closed; check for a stray '\"'"
    return f"the CSV is malformed ({exc}); a cell containing quotes must be quoted, with quotes doubled"


def _csv_header(cells: list[str], name: str, number: int) -> list[str]:
    names = [cell.strip() for cell in cells]
    repeated = [column for column in names if column and names.count(column) > 1]
    if repeated:
        raise DataError(
            f"the header names column '{repeated[0]}' more than once; give each column its own name",
            file=name,
            line=number,
        )
    return names


def _csv_record(number: int, header: list[str], cells: list[str]) -> Record:
    extra = cells[len(header) :]
    if len(cells) < len(header) or any(cell.strip() for cell in extra):
        return Record(
            number,
            None,
            f"has {len(cells)} cells but the header has {len(header)} columns; "
            "a cell containing a comma must be quoted",
        )
    # Columns without a header name (e.g. a spreadsheet's index column) carry no field.
    return Record(number, {column: cell for column, cell in zip(header, cells, strict=False) if column})
