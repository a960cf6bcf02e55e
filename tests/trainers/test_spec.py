"""The job spec: what validates, what is refused and how the refusal names the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, run_trainer, write_spec
from trainers.spec import SpecError, TrainSpec, load_spec, parse_spec


@pytest.fixture
def spec_dict(tmp_path: Path) -> dict:
    data = tmp_path / "data.jsonl"
    data.write_text('{"instruction": "Say hi.", "input": "", "output": "hi"}\n')
    return make_spec(tmp_path / "model", data, tmp_path / "out")


def test_a_valid_spec_round_trips(spec_dict: dict, tmp_path: Path) -> None:
    spec = parse_spec(spec_dict)
    assert isinstance(spec, TrainSpec)
    assert spec.lora.r == 16 and spec.training.learning_rate == 3e-3
    assert spec.lora.target_modules == "all-linear"  # a default filled in
    dumped = json.loads(spec.model_dump_json())
    assert parse_spec(dumped) == spec
    assert load_spec(write_spec(tmp_path / "spec.json", dumped)) == spec


def _set(data: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 2),
        ("job_id", 0),
        ("attempt", "first"),
        ("base_model.name", ""),
        ("dataset.sha256", "not-a-digest"),
        ("dataset.format", "xlsx"),
        ("dataset.task", "translation"),
        ("lora.r", 0),
        ("lora.dropout", 1.0),
        ("training.learning_rate", 0),
        ("training.epochs", -1),
        ("training.eval_fraction", 0.9),
        ("events.url", "ftp://example.com/ingest"),
    ],
)
def test_it_names_the_invalid_field(spec_dict: dict, field: str, value: object) -> None:
    _set(spec_dict, field, value)
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        parse_spec(spec_dict)


def test_it_names_every_invalid_field_at_once(spec_dict: dict) -> None:
    spec_dict["lora"]["r"] = 0
    spec_dict["training"]["batch_size"] = 0
    with pytest.raises(SpecError) as caught:
        parse_spec(spec_dict)
    assert "lora.r" in str(caught.value) and "training.batch_size" in str(caught.value)


def test_it_refuses_unknown_fields(spec_dict: dict) -> None:
    spec_dict["training"]["lr"] = 0.1
    with pytest.raises(SpecError, match=r"training\.lr"):
        parse_spec(spec_dict)


def test_it_wants_exactly_one_model_source(spec_dict: dict) -> None:
    spec_dict["base_model"]["hub_id"] = "org/model"
    with pytest.raises(SpecError, match="base_model"):
        parse_spec(spec_dict)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{oops", "not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_load_spec_explains_a_bad_file(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "spec.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_the_cli_exits_2_with_a_failed_event_for_a_bad_spec(spec_dict: dict, tmp_path: Path) -> None:
    spec_dict["training"]["learning_rate"] = -1
    run = run_trainer(write_spec(tmp_path / "spec.json", spec_dict), timeout=60)

    assert run.returncode == 2
    events = run.events  # every stdout line is an event
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[-1]["kind"] == "finished"
    assert events[-1]["status"] == "failed"
    assert "training.learning_rate" in events[-1]["error"]
    assert "training.learning_rate" in run.stderr


def test_the_cli_exits_2_for_a_missing_spec_file(tmp_path: Path) -> None:
    run = run_trainer(tmp_path / "nope.json", timeout=60)
    assert run.returncode == 2
    assert run.of_kind("finished")[0]["error"].startswith("SpecError: spec file not found")
