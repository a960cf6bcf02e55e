"""Curate specs over rows written to files in a temporary folder, run with a real event emitter."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from trainers.curate.run import run_curate
from trainers.events import EventEmitter
from trainers.spec import parse_spec


def write_rows(path: Path, rows: list[dict]) -> dict:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    task = "classification" if "label" in rows[0] else "instruction" if "output" in rows[0] else "text"
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "format": "jsonl",
        "task": task,
    }


class Curated:
    def __init__(self, out: Path, events: list[dict]) -> None:
        self.out, self.events = out, events
        self.rows = [json.loads(line) for line in (out / "curated.jsonl").read_text().splitlines()]
        self.table = pq.read_table(out / "scores.parquet").to_pylist()
        self.summary = json.loads((out / "summary.json").read_text())

    def reasons(self) -> list[str]:
        return [row["reason"] for row in self.table]


@pytest.fixture
def curate(tmp_path: Path):
    def run(
        datasets: list[list[dict]],
        eval_rows: list[dict] | None = None,
        target_rows: list[dict] | None = None,
        **params,
    ) -> Curated:
        refs = [write_rows(tmp_path / f"in{i}.jsonl", rows) for i, rows in enumerate(datasets)]
        spec = {
            "kind": "curate",
            "job_id": 1,
            "attempt": 1,
            "output_dir": str(tmp_path / "out"),
            "datasets": refs,
            "budget": {"keep_percent": 100},
            "chunk_rows": 10,
            **params,
        }
        if eval_rows:
            spec["eval_set"] = write_rows(tmp_path / "eval.jsonl", eval_rows)
        if target_rows:
            spec["target_set"] = write_rows(tmp_path / "target.jsonl", target_rows)
        out = io.StringIO()
        run_curate(parse_spec(spec), EventEmitter(out))
        return Curated(tmp_path / "out", [json.loads(line) for line in out.getvalue().splitlines()])

    return run
