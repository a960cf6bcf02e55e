"""Fixtures for the trainer: a tiny model built on the fly, demo data, specs, and running the CLI."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The tiny model gains nothing from threads, and 2 busy cores make thread contention slow.
TRAINER_ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session", autouse=True)
def _frozen_heap():
    """Leave what is alive when the tests start (torch, transformers, pytest, the test modules) out
    of every garbage collection: none of it is garbage, and every Trainer run ends in a full
    ``gc.collect()`` (accelerate's ``free_memory``) that would walk all of it, ~0.5 s a run."""
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainers.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def make_spec(model_dir: Path, data_path: Path, output_dir: Path, **overrides: dict) -> dict:
    """A valid train spec; ``overrides`` replace whole sections or merge into dict sections."""
    spec = {
        "job_id": 7,
        "attempt": 1,
        "base_model": {"name": "tiny-llama", "path": str(model_dir)},
        "dataset": {
            "path": str(data_path),
            "sha256": hashlib.sha256(data_path.read_bytes()).hexdigest(),
            "format": "jsonl",
            "task": "instruction",
        },
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "training": {
            "learning_rate": 3e-3,
            "epochs": 3,
            "batch_size": 16,
            "max_seq_length": 64,
            "evals_per_run": 4,
            "checkpoints_per_run": 2,
        },
        "output_dir": str(output_dir),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@dataclass
class TrainerRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict]:
        """Every stdout line, each held to the event protocol (the typed models in trainers/events.py)."""
        from trainers.events import Unreadable, parse_event

        events = [json.loads(line) for line in self.stdout.splitlines()]
        for event in events:
            parsed = parse_event(event)
            assert not isinstance(parsed, Unreadable), f"{event}: {parsed.problem}"
        return events

    def of_kind(self, kind: str) -> list[dict]:
        return [event for event in self.events if event["kind"] == kind]


def trainer_env(**extra: str) -> dict:
    return {**os.environ, **TRAINER_ENV, **extra}


def run_trainer(spec_path: Path, *, timeout: float = 120, **env: str) -> TrainerRun:
    result = subprocess.run(
        [sys.executable, "-m", "trainers", "run", str(spec_path)],
        cwd=REPO,
        env=trainer_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return TrainerRun(result.returncode, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def demo_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainers.tiny import demo_instruction_rows

    return write_jsonl(tmp_path_factory.mktemp("data") / "demo.jsonl", demo_instruction_rows(200))
