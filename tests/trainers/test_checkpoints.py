"""Checkpoints, resume, early stopping, out of memory and continued training, run in-process."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import pytest
import torch

import trainers.callbacks
from tests.trainers.conftest import make_spec
from trainers.cli import run_job
from trainers.events import EventEmitter, route_logging
from trainers.spec import parse_spec
from trainers.train import run_training

FAST = {"epochs": 1, "batch_size": 16, "evals_per_run": 2, "checkpoints_per_run": 0}
PACKED = {"packing": True, "max_batch_tokens": 256, "group_by_length": True}


class Stopped(Exception):
    pass


def _train(spec: dict) -> list[dict]:
    out = io.StringIO()
    run_training(parse_spec(spec), EventEmitter(out))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _metrics(events: list[dict], split: str, name: str = "loss") -> dict[int, float]:
    return {e["step"]: e["value"] for e in events if e["kind"] == "metric" and e["split"] == split
            and e["name"] == name}  # fmt: skip


def _stop_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """As if SIGTERM arrived during ``step``: the callback saves a checkpoint and training stops."""
    original = trainers.callbacks.EventsCallback.on_step_end

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == step:
            self.stop_requested = True
        return original(self, args, state, control, **kw)

    monkeypatch.setattr(trainers.callbacks.EventsCallback, "on_step_end", on_step_end)

    def raise_stopped(signum, frame):
        raise Stopped

    previous = signal.signal(signal.SIGTERM, raise_stopped)  # run_training re-raises SIGTERM once saved
    monkeypatch.setattr(signal, "raise_signal", lambda sig: raise_stopped(sig, None))
    signal.signal(signal.SIGTERM, previous)


def test_it_checkpoints_every_n_steps_and_keeps_the_last_k(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path
) -> None:
    # With gradient checkpointing on (non-reentrant, so it works with the frozen base under LoRA).
    training = FAST | {
        "save_every_steps": 3,
        "keep_checkpoints": 2,
        "epochs": 1.5,
        "gradient_checkpointing": True,
    }
    events = _train(make_spec(tiny_model_dir, demo_jsonl, tmp_path / "out", training=training))
    assert all(v is not None for v in _metrics(events, "train").values())
    assert [e["step"] for e in events if e["kind"] == "checkpoint"] == [3, 6, 9, 12, 15, 18]
    kept = sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir())
    assert kept == ["checkpoint-15", "checkpoint-18"]


def test_a_resumed_packed_run_continues_exactly_where_it_stopped(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same data position, optimizer, scheduler and RNG: every later loss is the uninterrupted run's."""
    training = FAST | PACKED | {"epochs": 2, "save_every_steps": 100}
    whole = _train(make_spec(tiny_model_dir, demo_jsonl, tmp_path / "whole", training=training))
    planned = next(e for e in whole if e["kind"] == "started")["total_steps"]
    stop = planned // 2 + 1  # inside the second epoch, so the resume must also skip batches
    _stop_at(monkeypatch, stop)
    spec = make_spec(tiny_model_dir, demo_jsonl, tmp_path / "split", training=training)
    with pytest.raises(Stopped):
        _train(spec)
    monkeypatch.undo()
    checkpoint = tmp_path / "split" / "checkpoints" / f"checkpoint-{stop}"
    resumed = _train(spec | {"attempt": 2, "resume_from": str(checkpoint)})

    whole_loss, resumed_loss = _metrics(whole, "train"), _metrics(resumed, "train")
    assert sorted(resumed_loss) == list(range(stop + 1, planned + 1))  # no step twice, none missing
    for step, value in resumed_loss.items():
        assert value == pytest.approx(whole_loss[step], rel=1e-4), step
    assert next(e for e in resumed if e["kind"] == "progress")["total"] == planned


def test_early_stopping_ends_the_run_when_eval_loss_stops_improving(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path
) -> None:
    # A learning rate this high makes the eval loss climb after the first steps.
    training = FAST | {"epochs": 4, "evals_per_run": 24, "learning_rate": 0.3, "early_stopping_patience": 2}
    events = _train(make_spec(tiny_model_dir, demo_jsonl, tmp_path / "out", training=training))
    planned = next(e for e in events if e["kind"] == "started")["total_steps"]
    last_step = [e for e in events if e["kind"] == "progress"][-1]["step"]
    assert last_step < planned
    evals = _metrics(events, "eval")
    best = min(evals, key=evals.get)
    later = [v for s, v in evals.items() if s > best]
    assert len(later) == 2 and all(v >= evals[best] for v in later)


def test_out_of_memory_exits_3_saying_what_to_change(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forward(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("transformers.models.llama.modeling_llama.LlamaForCausalLM.forward", forward)
    spec = make_spec(tiny_model_dir, demo_jsonl, tmp_path / "out", training=FAST)
    out = io.StringIO()
    emitter = EventEmitter(out)
    undo = route_logging(emitter)  # as the CLI does: the log goes out as events too
    try:
        assert run_job(parse_spec(spec), emitter) == 3
    finally:
        undo()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    error = events[-1]["error"]
    assert error.startswith("OutOfMemoryError: CUDA out of memory")
    for advice in ("training.batch_size (now 16", "training.max_seq_length (now 64)",
                   "training.gradient_checkpointing", "QLoRA"):  # fmt: skip
        assert advice in error
    assert any(e["kind"] == "log" and "ran out of memory" in e["message"] for e in events)


def test_continued_training_starts_from_the_first_runs_adapter(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path
) -> None:
    training = FAST | {"evals_per_run": 1}  # so the first run's last eval is at its last step
    first = _train(make_spec(tiny_model_dir, demo_jsonl, tmp_path / "first", training=training))
    adapter = next(e for e in first if e["kind"] == "artifact")["location"]
    spec = make_spec(tiny_model_dir, demo_jsonl, tmp_path / "second", training=training, init_adapter=adapter)
    second = _train(spec)
    first_eval, second_eval = _metrics(first, "eval"), _metrics(second, "eval")
    final = first_eval[max(first_eval)]
    assert final < 0.8 * first_eval[0]  # the first run learned something
    assert second_eval[0] == pytest.approx(final, rel=1e-4)  # and the second starts there
    assert second_eval[max(second_eval)] < final
    card = (Path(next(e for e in second if e["kind"] == "artifact")["location"]) / "README.md").read_text()
    assert f"Continued from the adapter `{adapter}`" in card


def test_an_init_adapter_that_is_not_one_is_refused(
    tmp_path: Path, tiny_model_dir: Path, demo_jsonl: Path
) -> None:
    spec = make_spec(tiny_model_dir, demo_jsonl, tmp_path / "out", init_adapter=str(tmp_path))
    out = io.StringIO()
    assert run_job(parse_spec(spec), EventEmitter(out)) == 2
    assert "init_adapter" in json.loads(out.getvalue().splitlines()[-1])["error"]
