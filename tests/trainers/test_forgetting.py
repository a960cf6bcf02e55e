"""The forgetting report: a model that knows general English, tuned hard on a narrow task, forgets it
(retention perplexity up past the threshold, warned; its multiple-choice task's accuracy down); a
light LoRA run leaves both where they were."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, write_jsonl
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.forgetting import RETENTION_TEXTS, assess
from trainers.spec import parse_spec
from trainers.tiny import default_corpus, demo_instruction_rows


def train(spec: dict) -> list[dict]:
    stream = io.StringIO()
    code = run_job(parse_spec(spec), EventEmitter(stream))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert code == 0, events[-1]
    return events


def retention(events: list[dict], name: str = "perplexity") -> tuple[float, float]:
    points = [(e["step"], e["value"]) for e in events
              if e["kind"] == "metric" and e["split"] == "retention" and e["name"] == name]
    assert len(points) == 2 and points[0][0] == 0 < points[1][0]
    return points[0][1], points[1][1]


def continuation_task(path: Path) -> dict:
    """A multiple-choice dataset from the retention passages: each passage's opening, and its own ending
    among three other passages' endings. A model that knows the passages picks the right one."""
    passages = [t.split() for t in RETENTION_TEXTS if len(t.split()) >= 16][:24]
    rows = []
    for i, words in enumerate(passages):
        endings = [" ".join(p[8:16]) for p in (passages[(i + k) % len(passages)] for k in range(4))]
        answer = i % 4
        endings[0], endings[answer] = endings[answer], endings[0]
        rows.append({"question": " ".join(words[:8]), "choices": endings, "answer": answer})
    return dataset(write_jsonl(path, rows), "multiple_choice")


def dataset(path: Path, task: str) -> dict:
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "format": "jsonl", "task": task}


@pytest.fixture(scope="module")
def english_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, its tokenizer trained on English too, then fully trained on general English
    passages (the retention set's own: the model knows exactly the text forgetting is measured on)."""
    from trainers.tiny import build_tiny_llama

    root = tmp_path_factory.mktemp("forgetting")
    tiny = build_tiny_llama(root / "tiny", corpus=default_corpus() + list(RETENTION_TEXTS) * 3)
    data = write_jsonl(root / "english.jsonl", [{"text": t} for t in RETENTION_TEXTS])
    spec = make_spec(tiny, data, root / "pretrain", method="full", dataset=dataset(data, "text"),
                     training={"epochs": 40, "batch_size": 8, "learning_rate": 3e-3, "max_seq_length": 128,
                               "checkpoints_per_run": 0, "eval_fraction": 0.1})
    events = train(spec)
    before, after = retention(events)
    assert after < 0.5 * before  # it learnt the English it will be measured on
    (artifact,) = [e for e in events if e["kind"] == "artifact"]
    return Path(artifact["location"])


@pytest.fixture(scope="module")
def narrow_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [r for r in demo_instruction_rows(400) if r["instruction"].startswith("Add")]
    return write_jsonl(tmp_path_factory.mktemp("narrow") / "sums.jsonl", rows)


def test_hard_full_fine_tuning_on_a_narrow_task_is_reported_as_forgetting(
    english_model: Path, narrow_rows: Path, tmp_path: Path
):
    spec = make_spec(english_model, narrow_rows, tmp_path / "out", method="full",
                     training={"epochs": 8, "batch_size": 8, "learning_rate": 5e-3, "checkpoints_per_run": 0})
    spec["retention_task"] = {"dataset": continuation_task(tmp_path / "continuations.jsonl")}
    events = train(spec)
    before, after = retention(events)
    report = assess(before, after, max_increase_percent=10.0)
    assert report.increase_percent > 10.0 and report.warned, report
    known, forgot = retention(events, "choice_accuracy")
    assert known >= 0.75 and known - forgot >= 0.25, (known, forgot)  # it knew the passages, then did not


def test_a_light_lora_run_leaves_retention_unchanged(english_model: Path, narrow_rows: Path, tmp_path: Path):
    light = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3, "checkpoints_per_run": 0}
    spec = make_spec(english_model, narrow_rows, tmp_path / "out", lora={"r": 2, "alpha": 2}, training=light)
    spec["retention_task"] = {"dataset": None}  # Hone's built-in questions
    events = train(spec)
    before, after = retention(events)
    report = assess(before, after, max_increase_percent=10.0)
    assert after != before  # the adapter did train
    assert abs(report.increase_percent) < 1.0 and not report.warned, report
    task_before, task_after = retention(events, "choice_accuracy")
    assert 0.0 <= task_before <= 1.0 and abs(task_after - task_before) <= 1 / 24  # at most one answer moved


def test_a_trained_model_records_the_chat_template_it_was_taught_with(english_model: Path):
    from trainers.tiny import TINY_CHAT_TEMPLATE
    from trainers.training_record import read_training_record, trained_chat_template

    record = read_training_record(english_model)
    assert record["chat_template"]["source"] == "base model" and record["objective"] == "sft"
    assert trained_chat_template(english_model) == TINY_CHAT_TEMPLATE
    assert "Chat template: base model" in (english_model / "README.md").read_text()
