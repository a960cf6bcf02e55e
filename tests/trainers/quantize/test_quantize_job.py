"""The quantize job through the trainer CLI, and every input it must refuse before doing any work."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from tests.trainers.conftest import run_trainer, write_jsonl, write_spec
from tests.trainers.quantize.conftest import dataset_ref, write_config
from trainers.cli import EXIT_INVALID, run_job
from trainers.events import EventEmitter
from trainers.spec import SpecError, parse_spec


def quantize_spec(model_dir: Path, out: Path, **overrides: object) -> dict:
    spec = {
        "kind": "quantize",
        "job_id": 9,
        "attempt": 1,
        "model": {"name": "trained", "path": str(model_dir)},
        "method": "rtn_int4",
        "outputs": ["torchao", "gguf_q4_0"],
        "output_dir": str(out),
        "max_new_tokens": 6,
        "prompts": ["spell apple:", "2 plus 3 is"],
    }
    spec.update(overrides)
    return spec


def refusal(spec: dict) -> str:
    """The message a spec is refused with, run in-process (exit code 2, the ``finished`` error)."""
    stream = io.StringIO()
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        return str(exc)
    assert run_job(parsed, EventEmitter(stream)) == EXIT_INVALID
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert not any(e["kind"] in ("started", "metric", "artifact") for e in events)  # refused before work
    return events[-1]["error"]


def test_a_quantize_job_reports_before_and_after_with_its_outputs(
    trained_model_dir: Path, tmp_path: Path, held_out_texts: list[str]
):
    out = tmp_path / "out"
    held_out = write_jsonl(tmp_path / "held_out.jsonl", [{"text": text} for text in held_out_texts])
    spec = quantize_spec(trained_model_dir, out, eval_texts=dataset_ref(held_out))
    result = run_trainer(write_spec(tmp_path / "spec.json", spec), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = {(e["name"], e["step"]): e["value"] for e in result.of_kind("metric")}
    assert all(e["split"] == "eval" for e in result.of_kind("metric"))
    assert metrics[("perplexity", 1)] == metrics[("perplexity_torchao", 1)]
    # Measured before and after, and the 4-bit model still speaks the toy language. (On this tiny
    # model at its perplexity floor, 4-bit rounding moves perplexity by about 0.1 %, either way.)
    before, after = metrics[("perplexity", 0)], metrics[("perplexity", 1)]
    assert after != before and abs(after - before) < 0.5 * before
    assert metrics[("size_bytes", 1)] < metrics[("size_bytes", 0)]
    assert metrics[("size_bytes_gguf_q4_0", 1)] < metrics[("size_bytes_torchao", 1)]
    assert metrics[("peak_rss_bytes", 1)] > 10_000_000 and metrics[("quantize_seconds", 1)] > 0
    assert {("perplexity_gguf_q4_0", 1), ("seconds_torchao", 1), ("compression_ratio", 1)} <= set(metrics)
    samples = result.of_kind("sample")
    assert [(s["model"], s["prompt"]) for s in samples] == [
        ("before", "spell apple:"),
        ("before", "2 plus 3 is"),
        ("after", "spell apple:"),
        ("after", "2 plus 3 is"),
    ]
    artifacts = {e["name"]: e for e in result.of_kind("artifact")}
    assert {name: a["artifact_kind"] for name, a in artifacts.items()} == {
        "torchao": "model",
        "gguf_q4_0": "gguf",
        "report": "report",
    }
    assert artifacts["gguf_q4_0"]["location"] == str(out / "model-Q4_0.gguf")
    report = json.loads((out / "report.json").read_text())
    assert report["before"]["perplexity"] == metrics[("perplexity", 0)]
    assert report["outputs"]["gguf_q4_0"]["perplexity"] == metrics[("perplexity_gguf_q4_0", 1)]
    assert report["samples"][0]["prompt"] == "spell apple:" and "after" in report["samples"][0]
    assert result.of_kind("finished")[-1]["status"] == "succeeded"


def test_a_k_quant_output_is_weighted_by_an_imatrix_of_the_calibration_text(
    trained_model_dir: Path, tmp_path: Path, toy_text_jsonl: Path
):
    import gguf

    out = tmp_path / "out"
    spec = quantize_spec(
        trained_model_dir,
        out,
        method="rtn_int8",
        outputs=["gguf_q4_k_m"],
        calibration=dataset_ref(toy_text_jsonl),
        imatrix={"calibration_samples": 8, "calibration_seq_len": 32},
        prompts=["spell apple:"],
    )
    result = run_trainer(write_spec(tmp_path / "spec.json", spec), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["imatrix"] == {
        "source": "toy.jsonl",
        "windows": 8,
        "seq_len": 32,
        "tokens": report["imatrix"]["tokens"],
    }
    before, after = report["before"]["perplexity"], report["outputs"]["gguf_q4_k_m"]["perplexity"]
    assert abs(after - before) < 0.1 * before
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(out / "model-Q4_K_M.gguf").tensors}
    # 64 columns do not split into k-quant blocks of 256: llama.cpp's fallback, importance-weighted Q5_0
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q5_0


def test_a_refused_job_exits_2_with_its_message(trained_model_dir: Path, tmp_path: Path):
    spec = quantize_spec(
        trained_model_dir,
        tmp_path / "out",
        method="gptq_int4",
        gptq_int4={"group_size": 128, "symmetric": True},
    )
    result = run_trainer(write_spec(tmp_path / "spec.json", spec))
    assert result.returncode == 2
    assert "gptq_int4.group_size 32 and gptq_int4.symmetric true" in result.of_kind("finished")[-1]["error"]


def test_it_refuses_a_calibration_dataset_too_small(trained_model_dir: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "few.jsonl", [{"text": "1 plus 1 is 2."}] * 5)
    spec = quantize_spec(
        trained_model_dir,
        tmp_path / "out",
        method="gptq_int4",
        calibration=dataset_ref(data),
        gptq_int4={"group_size": 32},
        outputs=["torchao"],
    )
    message = refusal(spec)
    assert "few.jsonl gives" in message and "calibration_samples asks for 128" in message
    assert "Add rows, or lower calibration_samples or calibration_seq_len" in message


def test_it_refuses_eval_texts_of_the_wrong_kind(trained_model_dir: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "labels.jsonl", [{"text": "good", "label": "positive"}])
    spec = quantize_spec(trained_model_dir, tmp_path / "out", eval_texts=dataset_ref(data, "classification"))
    message = refusal(spec)
    assert "eval_texts.task: this job reads text, instruction, chat data, not 'classification'" in message


def test_it_refuses_an_already_quantized_model(trained_model_dir: Path, tmp_path: Path):
    first = tmp_path / "first"
    assert (
        run_job(
            parse_spec(quantize_spec(trained_model_dir, first, outputs=["torchao"], prompts=[])),
            EventEmitter(io.StringIO()),
        )
        == 0
    )
    message = refusal(quantize_spec(first / "torchao", tmp_path / "again"))
    assert "already quantized (torchao)" in message and "Quantize the full-precision model" in message


def test_it_refuses_quantized_tensors_even_without_a_quantization_config(
    trained_model_dir: Path, tmp_path: Path
):
    from safetensors.torch import load_file, save_file

    model_dir = shutil.copytree(trained_model_dir, tmp_path / "gptq-style")
    state = load_file(model_dir / "model.safetensors")
    state["model.layers.0.self_attn.q_proj.qweight"] = state.pop(
        "model.layers.0.self_attn.q_proj.weight"
    ).int()
    save_file(state, model_dir / "model.safetensors")
    assert "holds quantized weights (model.layers.0.self_attn.q_proj.qweight" in refusal(
        quantize_spec(model_dir, tmp_path / "out")
    )


def test_it_refuses_gguf_for_an_architecture_llama_cpp_would_not_load(
    tmp_path: Path, trained_model_dir: Path
):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model_dir = tmp_path / "qwen"
    config = Qwen2Config(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
    )
    Qwen2ForCausalLM(config).save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(trained_model_dir / name, model_dir / name)
    message = refusal(quantize_spec(model_dir, tmp_path / "out"))
    assert "GGUF export supports Llama-architecture models" in message and "Export torchao instead" in message


def test_it_refuses_a_group_size_that_does_not_divide_a_layer(trained_model_dir: Path, tmp_path: Path):
    model_dir = shutil.copytree(trained_model_dir, tmp_path / "copy")
    message = refusal(quantize_spec(model_dir, tmp_path / "out", rtn_int4={"group_size": 256}))
    assert "rtn_int4.group_size: 256 does not divide the 64 input columns" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"method": "rtn_int3"},
            "method: Input should be 'rtn_int8', 'rtn_int4', 'gptq_int4', 'awq_int4' or 'mixed_precision'",
        ),
        ({"gptq_int4": {"damp_percent": 0}}, "gptq_int4.damp_percent: Input should be greater than 0"),
        ({"rtn_int4": {"group_size": 48}}, "group_size must be a power of two"),
        (
            {"outputs": ["gguf_q5_k"]},
            "outputs.0: Input should be 'torchao', 'gguf_q8_0', 'gguf_q4_0', 'gguf_q4_k_m'",
        ),
        (
            {"imatrix": {"calibration_samples": 0}},
            "imatrix.calibration_samples: Input should be greater than",
        ),
        (
            {"calibration": {"path": "/x.jsonl", "sha256": "0" * 64, "format": "jsonl", "task": "text"}},
            "calibration: only gptq_int4, awq_int4, mixed_precision and the GGUF k-quant outputs' "
            "importance matrix",
        ),
        ({"model": {"name": "hub", "hub_id": "org/model"}}, "quantization reads the weights file by file"),
    ],
)
def test_the_spec_refuses_bad_parameters(tmp_path: Path, change: dict, message: str):
    spec = quantize_spec(tmp_path, tmp_path / "out", **change)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(spec)


def test_it_refuses_a_model_directory_without_weights(tmp_path: Path, trained_model_dir: Path):
    model_dir = tmp_path / "empty"
    model_dir.mkdir()
    shutil.copy(trained_model_dir / "config.json", model_dir / "config.json")
    assert "has no safetensors weights" in refusal(quantize_spec(model_dir, tmp_path / "out"))
    write_config(model_dir, architectures=["BertForSequenceClassification"])
    assert "Hone quantizes causal language models" in refusal(quantize_spec(model_dir, tmp_path / "out"))
