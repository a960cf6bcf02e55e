"""Exit codes: what the executor and reconciler act on, one per kind of outcome."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

import trainers.train
from tests.trainers.conftest import make_spec, write_jsonl
from trainers.cli import Terminated, is_out_of_memory, run_job
from trainers.events import EventEmitter
from trainers.spec import SpecError, parse_spec
from trainers.train import plan_steps


@pytest.fixture
def spec_dict(tmp_path: Path, tiny_model_dir: Path) -> dict:
    data = write_jsonl(tmp_path / "data.jsonl", [{"instruction": "Say hi.", "input": "", "output": "hi"}] * 4)
    return make_spec(tiny_model_dir, data, tmp_path / "out")


def _run(spec: dict) -> tuple[int, list[dict]]:
    out = io.StringIO()
    code = run_job(parse_spec(spec), EventEmitter(out))
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def _fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def run_training(spec, emitter) -> None:
        raise exc

    monkeypatch.setattr(trainers.train, "run_training", run_training)


def test_a_task_the_objective_cannot_train_is_refused_with_the_spec(spec_dict: dict) -> None:
    # Refused when the spec is validated (the CLI then exits 2: tests/trainers/test_objectives.py).
    spec_dict["dataset"]["task"] = "preference"
    with pytest.raises(SpecError, match=r"objective: sft learns from .*dataset.task is 'preference'"):
        parse_spec(spec_dict)


def test_a_dataset_changed_since_upload_is_refused_with_2(spec_dict: dict) -> None:
    Path(spec_dict["dataset"]["path"]).write_text('{"text": "something else"}\n')
    code, events = _run(spec_dict)
    assert code == 2 and events[-1]["error"].startswith("DataError: data.jsonl: the file has changed")


def test_a_missing_base_model_is_refused_with_2(spec_dict: dict, tmp_path: Path) -> None:
    spec_dict["base_model"]["path"] = str(tmp_path / "no-such-model")
    code, events = _run(spec_dict)
    assert code == 2 and "base_model.path" in events[-1]["error"]


def test_a_missing_checkpoint_is_refused_with_2(spec_dict: dict, tmp_path: Path) -> None:
    spec_dict["resume_from"] = str(tmp_path / "checkpoint-9")
    code, events = _run(spec_dict)
    assert code == 2 and "resume_from" in events[-1]["error"]


def test_out_of_memory_exits_3(spec_dict: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_with(monkeypatch, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    code, events = _run(spec_dict)
    assert code == 3 and events[-1]["error"].startswith("OutOfMemoryError: CUDA out of memory")


def test_sigterm_exits_143_as_cancelled(spec_dict: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_with(monkeypatch, Terminated("stopped by SIGTERM"))
    code, events = _run(spec_dict)
    assert code == 143 and events[-1]["status"] == "cancelled"


def test_any_other_failure_exits_1_with_the_traceback_on_stderr(
    spec_dict: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _fail_with(monkeypatch, RuntimeError("boom"))
    code, events = _run(spec_dict)
    assert code == 1
    assert events[-1] | {"seq": 0, "time": ""} == {
        "seq": 0, "time": "", "kind": "finished", "status": "failed", "error": "RuntimeError: boom"
    }
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (MemoryError(), True),
        (torch.OutOfMemoryError("x"), True),
        (RuntimeError("CUDA error: out of memory"), True),
        (RuntimeError("shape mismatch"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_is_out_of_memory(exc: BaseException, expected: bool) -> None:
    assert is_out_of_memory(exc) is expected


@pytest.mark.parametrize(
    ("rows", "training", "expected"),
    [
        (180, {"batch_size": 16, "epochs": 3}, (36, 8, 18, 1)),
        (100, {"batch_size": 8, "gradient_accumulation_steps": 4, "epochs": 1}, (4, 1, 2, 1)),
        (10_000, {"batch_size": 1, "epochs": 2, "checkpoints_per_run": 0}, (20_000, 4000, 0, 100)),
        (3, {"batch_size": 8, "epochs": 0.5}, (1, 1, 1, 1)),
    ],
)
def test_plan_steps(spec_dict: dict, rows: int, training: dict, expected: tuple) -> None:
    spec_dict["training"] |= {"evals_per_run": 5, "checkpoints_per_run": 2} | training
    plan = plan_steps(parse_spec(spec_dict), rows)
    assert (plan.total, plan.eval_every, plan.save_every, plan.log_every) == expected
