"""AWQ and mixed precision through the quantize job: their outputs written, loaded back and
measured by the job itself, and their budgets refused before any model is loaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import gguf
import pytest

from tests.trainers.conftest import write_jsonl
from tests.trainers.quantize.conftest import dataset_ref
from tests.trainers.quantize.test_quantize_job import quantize_spec, refusal
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.spec import parse_spec

SMALL = {"calibration_samples": 8, "calibration_seq_len": 64}


@pytest.fixture
def held_out_jsonl(tmp_path: Path, held_out_texts: list[str]) -> dict:
    return dataset_ref(write_jsonl(tmp_path / "held_out.jsonl", [{"text": t} for t in held_out_texts]))


def run(spec: dict) -> dict:
    assert run_job(parse_spec(spec), EventEmitter(io.StringIO())) == 0
    return json.loads((Path(spec["output_dir"]) / "report.json").read_text())


def test_a_mixed_precision_job_writes_its_widths_and_gguf_types(
    trained_model_dir: Path, tmp_path: Path, toy_text_jsonl: Path, held_out_jsonl: dict
):
    params = {**SMALL, "bits_budget": 5.0, "bits": [3, 4, 8]}
    spec = quantize_spec(
        trained_model_dir,
        tmp_path / "out",
        method="mixed_precision",
        mixed_precision=params,
        calibration=dataset_ref(toy_text_jsonl),
        eval_texts=held_out_jsonl,
        prompts=[],
    )
    report = run(spec)
    plan = report["quantize"]["plan"]
    assert plan["bits_per_weight"] <= 5.0 and plan["gguf"]["bits_per_weight"] <= 5.0
    assert report["outputs"]["torchao"]["perplexity"] < 1.05 * report["before"]["perplexity"]
    reader = gguf.GGUFReader(report["outputs"]["gguf_q4_0"]["path"])
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.ffn_up.weight"] == plan["gguf"]["types"]["model.layers.0.mlp.up_proj.weight"]
    assert report["outputs"]["gguf_q4_0"]["perplexity"] < 1.05 * report["before"]["perplexity"]


def test_an_awq_job_writes_the_compressed_tensors_model(
    trained_model_dir: Path, tmp_path: Path, toy_text_jsonl: Path, held_out_jsonl: dict
):
    spec = quantize_spec(
        trained_model_dir,
        tmp_path / "out",
        method="awq_int4",
        outputs=["compressed_tensors"],
        awq_int4={**SMALL, "group_size": 32, "symmetric": True, "grid": 4, "clip_grid": 4},
        calibration=dataset_ref(toy_text_jsonl),
        eval_texts=held_out_jsonl,
        prompts=[],
    )
    report = run(spec)
    config = json.loads((Path(report["outputs"]["compressed_tensors"]["path"]) / "config.json").read_text())
    assert config["quantization_config"]["format"] == "pack-quantized"
    assert report["outputs"]["compressed_tensors"]["perplexity"] < 1.05 * report["before"]["perplexity"]


def test_a_budget_the_layers_cannot_meet_is_refused_before_the_model_loads(
    trained_model_dir: Path, tmp_path: Path
):
    spec = quantize_spec(
        trained_model_dir,
        tmp_path / "out",
        method="mixed_precision",
        mixed_precision={**SMALL, "bytes_budget": 100},
    )
    assert "mixed_precision.bytes_budget: 100 bytes is less than the smallest choice" in refusal(spec)
    assert not (tmp_path / "out" / "report.json").exists()
