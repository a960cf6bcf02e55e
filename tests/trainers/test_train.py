"""End to end: ``python -m trainers run`` fine-tunes the tiny model, reports, saves, resumes."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from tests.trainers.conftest import (
    REPO,
    TrainerRun,
    make_spec,
    run_trainer,
    trainer_env,
    write_jsonl,
    write_spec,
)
from trainers.spec import parse_spec


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, demo_jsonl: Path) -> TrainerRun:
    work = tmp_path_factory.mktemp("train")
    spec = make_spec(tiny_model_dir, demo_jsonl, work / "output")
    return run_trainer(write_spec(work / "spec.json", spec))


def test_it_succeeds_and_reports_the_run(trained: TrainerRun) -> None:
    assert trained.returncode == 0, trained.stderr[-3000:]
    events = trained.events
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert {"started", "progress", "metric", "sample", "checkpoint", "artifact", "finished"} <= {
        event["kind"] for event in events
    }
    started = trained.of_kind("started")[0]
    assert started["total_steps"] == 36  # 180 training rows / 16 per batch -> 12 steps, 3 epochs
    assert 0 < started["trainable_params"] < started["total_params"]
    assert started["device"] == "cpu" and started["model"] == "tiny-llama"
    assert trained.of_kind("progress")[-1]["step"] == 36
    assert {e["name"] for e in trained.of_kind("metric") if e["split"] == "train"} == {
        "loss", "learning_rate", "grad_norm"
    }
    assert events[-1] == events[-1] | {"kind": "finished", "status": "succeeded", "error": None}


def test_the_eval_loss_goes_down(trained: TrainerRun) -> None:
    eval_losses = [e["value"] for e in trained.of_kind("metric") if e["split"] == "eval"]
    assert len(eval_losses) == 5  # before training, then evals_per_run=4
    assert eval_losses[-1] < 0.8 * eval_losses[0], eval_losses


def test_samples_come_from_a_held_out_prompt(trained: TrainerRun) -> None:
    samples = trained.of_kind("sample")
    eval_steps = [e["step"] for e in trained.of_kind("metric") if e["split"] == "eval"]
    assert [s["step"] for s in samples] == eval_steps
    assert len({s["prompt"] for s in samples}) == 1 and samples[0]["expected"]


def test_the_artifact_is_the_saved_adapter(trained: TrainerRun) -> None:
    artifact = trained.of_kind("artifact")[0]
    adapter = Path(artifact["location"])
    assert adapter.is_absolute() and artifact["artifact_kind"] == "adapter"
    weights = adapter / "adapter_model.safetensors"
    assert artifact["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert artifact["bytes"] == sum(f.stat().st_size for f in adapter.iterdir())
    assert (adapter / "adapter_config.json").is_file() and (adapter / "tokenizer.json").is_file()


def test_the_model_card_records_how_it_was_made(
    trained: TrainerRun, tiny_model_dir: Path, demo_jsonl: Path
) -> None:
    card = (Path(trained.of_kind("artifact")[0]["location"]) / "README.md").read_text()
    assert "Trained with Hone" in card
    assert "tiny-llama" in card and str(tiny_model_dir) in card
    assert hashlib.sha256(demo_jsonl.read_bytes()).hexdigest() in card
    assert "180 for training, 20 for evaluation" in card
    assert "- r: 16" in card and "- learning_rate: 0.003" in card
    assert "Final eval loss: " in card and "n/a" not in card


def test_the_adapter_loads_with_plain_peft_and_changes_the_logits(
    trained: TrainerRun, tiny_model_dir: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    input_ids = tokenizer("Add 2 and 3.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        base_logits = base(input_ids).logits
        tuned = PeftModel.from_pretrained(base, trained.of_kind("artifact")[0]["location"])
        tuned_logits = tuned(input_ids).logits
    assert (tuned_logits - base_logits).abs().max() > 0.1


def _run_until_sigterm(spec_path: Path, after_step: int) -> TrainerRun:
    """Start a run, send SIGTERM once a training step past ``after_step`` is reported."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trainers", "run", str(spec_path)],
        cwd=REPO, env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(120, process.kill)  # a hung trainer fails the test instead of hanging it
    watchdog.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            event = json.loads(line)
            if event["kind"] == "metric" and event["split"] == "train" and event["step"] >= after_step:
                process.send_signal(signal.SIGTERM)
                break
        rest, stderr = process.communicate(timeout=60)
    finally:
        watchdog.cancel()
    return TrainerRun(process.returncode, "".join(lines) + rest, stderr)


def test_sigterm_saves_a_checkpoint_and_the_next_attempt_resumes_from_it(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path
) -> None:
    # One planned checkpoint, at the very end: any checkpoint before that is the SIGTERM one.
    spec = make_spec(tiny_model_dir, demo_jsonl, tmp_path / "output",
                     training={"epochs": 4, "checkpoints_per_run": 1, "evals_per_run": 1})
    stopped = _run_until_sigterm(write_spec(tmp_path / "spec.json", spec), after_step=3)

    assert stopped.returncode == 143, stopped.stderr[-3000:]
    checkpoint = stopped.of_kind("checkpoint")[-1]
    planned = stopped.of_kind("started")[0]["total_steps"]  # 4 epochs of 12 steps
    assert 3 <= checkpoint["step"] < planned
    assert (Path(checkpoint["location"]) / "adapter_model.safetensors").is_file()
    assert (Path(checkpoint["location"]) / "optimizer.pt").is_file()
    assert stopped.events[-1]["kind"] == "finished" and stopped.events[-1]["status"] == "cancelled"
    assert not stopped.of_kind("artifact")

    spec |= {"attempt": 2, "resume_from": checkpoint["location"]}
    resumed = run_trainer(write_spec(tmp_path / "spec2.json", spec))

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.events[0]["seq"] == 1  # numbering is per attempt
    assert resumed.of_kind("progress")[0]["step"] == checkpoint["step"] + 1
    assert resumed.of_kind("progress")[-1]["step"] == planned == 48
    assert resumed.of_kind("artifact") and resumed.events[-1]["status"] == "succeeded"


def _rows(n: int, tag: str) -> list[dict]:
    return [{"instruction": f"{tag} {i}", "input": "", "output": str(i)} for i in range(n)]


def test_it_holds_out_a_seeded_share_for_evaluation(tmp_path: Path, tiny_model_dir: Path) -> None:
    from trainers.train import load_datasets

    data = write_jsonl(tmp_path / "data.jsonl", _rows(50, "train"))
    spec = parse_spec(make_spec(tiny_model_dir, data, tmp_path / "out", training={"eval_fraction": 0.2}))
    train_rows, eval_rows = load_datasets(spec)

    assert (len(train_rows), len(eval_rows)) == (40, 10)
    assert sorted(r["output"] for r in train_rows + eval_rows) == sorted(str(i) for i in range(50))
    assert load_datasets(spec) == (train_rows, eval_rows)  # the same split on every attempt


def test_it_evaluates_on_the_eval_file_when_there_is_one(tmp_path: Path, tiny_model_dir: Path) -> None:
    from trainers.train import load_datasets

    data = write_jsonl(tmp_path / "data.jsonl", _rows(30, "train"))
    held_out = write_jsonl(tmp_path / "eval.jsonl", _rows(4, "eval"))
    spec = parse_spec(make_spec(tiny_model_dir, data, tmp_path / "out", dataset={"eval_path": str(held_out)}))
    train_rows, eval_rows = load_datasets(spec)

    assert len(train_rows) == 30
    assert [r["instruction"] for r in eval_rows] == [f"eval {i}" for i in range(4)]
