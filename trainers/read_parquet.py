"""Parquet rows, with what the file may decompress to bounded before it is decompressed.

A few kilobytes of zstd can hold a string of hundreds of megabytes, and a dictionary page
can repeat one long value for every row. So, before reading: the footer's uncompressed sizes
are checked against the total limit and its per-value average against the cell limit; then,
while reading: text columns come as dictionaries (each distinct value once), every row's
size is measured from the Arrow buffers, and rows become Python objects only after their
sizes passed, a slice of at most ``SLICE_BYTES`` at a time.

The footer is written by whoever made the file; the per-row checks do not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from trainers.formats import DataError, ReadLimits, Record, _size

BATCH_ROWS = 1024
SLICE_BYTES = 32 * 1024 * 1024  # Python objects made at once, at most (a row above it goes alone)


def parquet_rows(path: Path, name: str, limits: ReadLimits) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        meta = pq.ParquetFile(path).metadata
        _check_footer(meta, name, limits)
        flat_text = [
            meta.schema.column(i).path
            for i in range(meta.num_columns)
            if "." not in meta.schema.column(i).path and meta.schema.column(i).physical_type == "BYTE_ARRAY"
        ]
        reader = pq.ParquetFile(path, read_dictionary=flat_text)
        seen = 0
        for batch in reader.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
            sizes = _row_sizes(batch, number, name, limits)
            seen += sum(sizes)
            if limits.decoded_bytes is not None and seen > limits.decoded_bytes:
                message = f"the file unpacks to more than {limits.says('decoded_bytes')}"
                raise DataError(message, file=name, line=number + len(sizes), unit="row")
            for row in _python_rows(batch, sizes):
                number += 1
                yield Record(number, row)
    except (pa.ArrowException, OSError) as exc:
        line = number + 1 if number else None
        message = f"could not read the file as Parquet ({str(exc).replace(str(path), name)})"
        raise DataError(message, file=name, line=line, unit="row") from None


def _check_footer(meta, name: str, limits: ReadLimits) -> None:
    """Refuse from the footer alone, before a single page is decompressed."""
    total, first_row = 0, 1
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            total += chunk.total_uncompressed_size
            per_value = chunk.total_uncompressed_size / max(chunk.num_values, 1)
            last = max(group.num_rows - 1, 0)
            if limits.cell_bytes is not None and per_value > limits.cell_bytes:
                raise DataError(
                    f"values of about {_size(int(per_value))} each in rows {first_row}-{first_row + last}, "
                    f"over {limits.says('cell_bytes')} for one cell",
                    file=name,
                    field=chunk.path_in_schema.split(".")[0],
                )
        first_row += group.num_rows
    if limits.decoded_bytes is not None and total > limits.decoded_bytes:
        raise DataError(f"the file unpacks to {_size(total)}, over {limits.says('decoded_bytes')}", file=name)


def _row_sizes(batch, before: int, name: str, limits: ReadLimits) -> list[int]:
    """Bytes each row of ``batch`` will take as text, from the Arrow buffers; checks the limits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = [0] * batch.num_rows
    for column_name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            cells = pc.take(pc.binary_length(column.dictionary), column.indices)
        elif _is_text(column.type):
            cells = pc.binary_length(column)
        else:  # numbers, lists, structs: their share of the buffers
            per_row = column.get_total_buffer_size() // max(len(column), 1)
            cells = pa.array([per_row] * len(column))
        cells = pc.fill_null(cells, 0).to_pylist()
        biggest = max(cells, default=0)
        if limits.cell_bytes is not None and biggest > limits.cell_bytes:
            raise DataError(
                f"larger than {limits.says('cell_bytes')} for one cell",
                file=name,
                line=before + cells.index(biggest) + 1,
                field=column_name,
                unit="row",
            )
        rows = [a + b for a, b in zip(rows, cells, strict=True)]
    if limits.row_bytes is not None and rows and max(rows) > limits.row_bytes:
        line = before + rows.index(max(rows)) + 1
        raise DataError(
            f"the row is larger than {limits.says('row_bytes')}", file=name, line=line, unit="row"
        )
    return rows


def _is_text(type_) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_binary(type_)
        or (pa.types.is_large_binary(type_))
    )


def _python_rows(batch, sizes: list[int]) -> Iterator[dict]:
    """The batch's rows as dicts, made a slice of at most SLICE_BYTES at a time."""
    start = 0
    while start < len(sizes):
        end, budget = start, 0
        while end < len(sizes) and (end == start or budget + sizes[end] <= SLICE_BYTES):
            budget += sizes[end]
            end += 1
        yield from batch.slice(start, end - start).to_pylist()
        start = end
