"""Multiple-choice rows (the harness's data): detected from their keys, the answer given as an index
or as the right choice's text, and each bad row named by line and field."""

from __future__ import annotations

import json
from pathlib import Path

from trainers.data import inspect_file, load_rows


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rows_are_detected_and_the_answer_becomes_an_index(tmp_path: Path):
    path = write(tmp_path / "mc.jsonl", [
        {"question": "2 + 2?", "choices": ["3", "4"], "answer": 1},
        {"question": "Sky colour?", "choices": ["blue", "green", "red"], "answer": "blue"},
    ])
    report = inspect_file(path)
    assert report.task == "multiple_choice" and report.ok, report.errors
    assert [r["answer"] for r in load_rows(path, "jsonl", "multiple_choice")] == [1, 0]


def test_each_bad_row_is_named_by_line_and_field(tmp_path: Path):
    path = write(tmp_path / "bad.jsonl", [
        {"question": "ok?", "choices": ["yes", "no"], "answer": 0},
        {"question": "one choice?", "choices": ["only"], "answer": 0},
        {"question": "out of range?", "choices": ["a", "b"], "answer": 2},
        {"question": "unknown text?", "choices": ["a", "b"], "answer": "c"},
        {"question": "no answer?", "choices": ["a", "b"]},
    ])
    errors = [str(e) for e in inspect_file(path, task="multiple_choice").errors]
    assert any(e.startswith("line 2, field 'choices'") and "two or more" in e for e in errors), errors
    assert any(e.startswith("line 3, field 'answer'") and "0 to 1" in e for e in errors), errors
    assert any(e.startswith("line 4, field 'answer'") for e in errors), errors
    assert any(e.startswith("line 5, field 'answer'") and "missing" in e for e in errors), errors
