"""The per-row table (``scores.parquet``), the curated rows (``curated.jsonl``) and the summary.

One ``Row`` per input row, in input order, holds its scores and its reason; the rows themselves are
read again from the input files when the curated file is written, so they are never all in memory.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trainers.curate.reasons import REASONS, is_kept, words
from trainers.data import iter_rows
from trainers.spec_curate import CurateSpec

EXAMPLES_PER_REASON = 5
SCHEMA = pa.schema(
    [
        ("dataset", pa.int32()),
        ("row", pa.int64()),
        ("kept", pa.bool_()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("tokens", pa.int64()),
        ("repetition", pa.float64()),
        ("language", pa.string()),
        ("similarity", pa.float64()),
        ("label", pa.string()),
        ("suggested_label", pa.string()),
        ("label_quality", pa.float64()),
        ("pick_distance", pa.float64()),
        ("fit_loss", pa.float64()),
        ("margin", pa.float64()),
        ("influence", pa.float64()),
        ("cluster", pa.int32()),
        ("preview", pa.string()),
    ]
)


@dataclass
class Row:
    dataset: int
    row: int
    preview: str
    reason: str = "kept"
    detail: str = ""
    tokens: int | None = None
    repetition: float | None = None
    language: str | None = None
    similarity: float | None = None
    label: str | None = None
    suggested_label: str | None = None
    label_quality: float | None = None
    pick_distance: float | None = None
    fit_loss: float | None = None
    margin: float | None = None
    influence: float | None = None
    cluster: int | None = None
    new_label: str | int | None = None  # set when the row is relabelled

    @property
    def alive(self) -> bool:
        """Still in the running: kept so far (a listed label suspect included)."""
        return is_kept(self.reason)

    def drop(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail


def input_rows(spec: CurateSpec) -> Iterator[tuple[int, int, dict]]:
    """(dataset index, row index, row) for every row of every input, in order."""
    for d, ref in enumerate(spec.datasets):
        for r, row in enumerate(iter_rows(Path(ref.path), ref.format, ref.task)):
            yield d, r, row


def write_table(rows: list[Row], path: Path) -> Path:
    records = [asdict(row) | {"kept": row.alive} for row in rows]
    columns = {name: [record[name] for record in records] for name in SCHEMA.names}
    pq.write_table(pa.table(columns, schema=SCHEMA), path)
    return path


def write_curated(spec: CurateSpec, rows: list[Row], path: Path) -> int:
    """The kept rows, as the trainer reads them (relabels applied), one JSON object per line."""
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for state, (_d, _r, row) in zip(rows, input_rows(spec), strict=True):
            if not state.alive:
                continue
            if state.new_label is not None:
                row = {**row, "label": state.new_label}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    return written


def summary(spec: CurateSpec, rows: list[Row], target: int) -> dict:
    counts = Counter(row.reason for row in rows)
    examples: dict[str, list[dict]] = {}
    for row in rows:
        shown = examples.setdefault(row.reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(
                {"dataset": row.dataset, "row": row.row, "preview": row.preview, "detail": row.detail}
            )
    reasons = [
        {"reason": name, "words": words(name), "kept": kept, "rows": counts[name], "examples": examples[name]}
        for name, (kept, _) in REASONS.items()
        if counts[name]
    ]
    kept = sum(1 for row in rows if row.alive)
    return {
        "input_rows": len(rows),
        "kept_rows": kept,
        "dropped_rows": len(rows) - kept,
        "budget": {**spec.budget.model_dump(exclude_none=True), "target_rows": target},
        "datasets": spec.dataset_names or [f"datasets[{i}]" for i in range(len(spec.datasets))],
        "steps": {
            name: getattr(spec, name).model_dump()
            for name in ("dedup", "quality", "labels", "difficulty", "fit", "diversity", "influence")
            if getattr(spec, name) is not None
        },
        "reasons": reasons,
    }
