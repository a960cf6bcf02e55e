"""GPTQ: better than round-to-nearest where it matters (the layer's outputs), and bias correction."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from tests.trainers.quantize.conftest import dataset_ref, mean_kl_to
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.quantize.gptq import GptqSettings, InputStats, gptq_model, gptq_quantize, shrink_hessian
from trainers.quantize.rtn import quantize_int4_groupwise
from trainers.spec import parse_spec


def correlated_inputs(tokens: int, features: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(features, features, generator=generator) / features**0.5
    return torch.randn(tokens, features, generator=generator) @ mixing + 0.3


def test_input_stats_is_the_mean_of_2xxT_over_all_tokens_added_in_pieces():
    x = correlated_inputs(50, 8)
    stats = InputStats.empty(8)
    for piece in (x[:7], x[7:30], x[30:]):
        stats.add(piece.unsqueeze(0))
    assert torch.allclose(stats.hessian, 2 * x.T @ x / 50, atol=1e-5)
    assert torch.allclose(stats.mean, x.mean(dim=0), atol=1e-6)


@pytest.mark.parametrize("symmetric", [False, True])
def test_gptq_output_error_is_smaller_than_round_to_nearest(symmetric: bool):
    x = correlated_inputs(512, 64)
    w = torch.randn(32, 64, generator=torch.Generator().manual_seed(1)) * 0.1
    stats = InputStats.empty(64)
    stats.add(x)
    settings = GptqSettings(group_size=16, symmetric=symmetric, damp_percent=0.01, block_size=32)
    gptq, loss = gptq_quantize(w, stats.hessian, settings)
    rtn = quantize_int4_groupwise(w, 16, symmetric)
    assert gptq.q.min() >= 0 and gptq.q.max() <= 15 and gptq.scale.shape == (32, 4)
    gptq_error = (x @ (w - gptq.dequantize()).T).pow(2).sum()
    rtn_error = (x @ (w - rtn.dequantize()).T).pow(2).sum()
    assert gptq_error < 0.8 * rtn_error
    assert loss > 0


def test_block_size_only_changes_speed_not_the_result():
    x = correlated_inputs(256, 64)
    w = torch.randn(16, 64, generator=torch.Generator().manual_seed(2))
    stats = InputStats.empty(64)
    stats.add(x)
    small = gptq_quantize(w, stats.hessian, GptqSettings(16, False, 0.01, block_size=16))[0]
    whole = gptq_quantize(w, stats.hessian, GptqSettings(16, False, 0.01, block_size=64))[0]
    assert (small.q != whole.q).float().mean() < 0.01  # equal up to float rounding at level boundaries


def quantize_job(model_dir: Path, out: Path, method: str, calibration: Path, eval_file: Path) -> dict:
    spec = {
        "kind": "quantize",
        "job_id": 1,
        "attempt": 1,
        "model": {"name": "trained", "path": str(model_dir)},
        "method": method,
        # One group per row of the 64-wide model: where round-to-nearest errs most and GPTQ's error
        # compensation shows. With groups of 32 both stay within noise of this tiny model's
        # perplexity floor (about 2.0 on the toy language), so neither beats the other reliably.
        "rtn_int4": {"group_size": 64},
        "gptq_int4": {"group_size": 64, "calibration_samples": 32, "calibration_seq_len": 64},
        "calibration": dataset_ref(calibration) if method == "gptq_int4" else None,
        "eval_texts": dataset_ref(eval_file),
        "prompts": [],
        "outputs": ["torchao"],
        "output_dir": str(out),
    }
    assert run_job(parse_spec(spec), EventEmitter(io.StringIO())) == 0
    return json.loads((out / "report.json").read_text())


def test_gptq_keeps_a_trained_model_closer_to_the_original_than_round_to_nearest(
    trained_model_dir: Path, toy_text_jsonl: Path, tmp_path: Path, held_out_texts: list[str]
):
    """GPTQ minimises each layer's output error, so the quantized model's predictions stay closer to
    the original's. Measured as KL on held-out text, not as perplexity: on this tiny model int4 moves
    perplexity by about 0.1 %, within the noise where either method can come out ahead (a fixture
    change once flipped a perplexity comparison; the KL gap here is about 3×)."""
    from tests.trainers.conftest import write_jsonl

    eval_file = write_jsonl(tmp_path / "held_out.jsonl", [{"text": t} for t in held_out_texts])
    rtn = quantize_job(trained_model_dir, tmp_path / "rtn", "rtn_int4", toy_text_jsonl, eval_file)
    gptq = quantize_job(trained_model_dir, tmp_path / "gptq", "gptq_int4", toy_text_jsonl, eval_file)
    assert rtn["before"]["perplexity"] == gptq["before"]["perplexity"] < 3  # it did learn the toy language
    for report in (rtn, gptq):  # int4 with one group per row costs this model little
        assert report["after"]["perplexity"] < 1.01 * report["before"]["perplexity"]
    rtn_kl = mean_kl_to(trained_model_dir, tmp_path / "rtn" / "torchao", held_out_texts)
    gptq_kl = mean_kl_to(trained_model_dir, tmp_path / "gptq" / "torchao", held_out_texts)
    assert 0 < gptq_kl < 0.7 * rtn_kl
    assert gptq["calibration"] == {
        "source": "toy.jsonl",
        "windows": 32,
        "seq_len": 64,
        "tokens": gptq["calibration"]["tokens"],
    }


def test_bias_correction_keeps_each_biased_layers_mean_output(tmp_path: Path, toy_corpus: list[str]):
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from trainers.tiny import build_tiny_llama

    model_dir = build_tiny_llama(tmp_path / "biased", corpus=toy_corpus[:50])
    config = LlamaConfig.from_pretrained(model_dir)
    config.attention_bias = config.mlp_bias = True
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    windows = [torch.tensor([tokenizer(text)["input_ids"][:24]]) for text in toy_corpus[:6]]
    q_proj = model.model.layers[0].self_attn.q_proj
    seen: list[torch.Tensor] = []
    handle = q_proj.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        for window in windows:
            model(input_ids=window)
    handle.remove()
    x = torch.cat([s.reshape(-1, s.shape[-1]) for s in seen])  # layer 0 sees exactly these during GPTQ
    bias_before = q_proj.bias.detach().clone()
    original = q_proj(x).mean(dim=0).detach()

    settings = GptqSettings(group_size=32, symmetric=False, damp_percent=0.01, block_size=32)
    result = gptq_model(model, windows, settings)
    assert "model.layers.0.self_attn.q_proj.bias" in result.biases
    assert "model.layers.1.mlp.down_proj.bias" in result.biases
    with torch.no_grad():
        corrected = q_proj(x).mean(dim=0)  # quantized weights, corrected bias
        uncorrected = (x @ q_proj.weight.T).mean(dim=0) + bias_before
    assert torch.allclose(corrected, original, atol=1e-5)
    assert (uncorrected - original).abs().max() > 10 * (corrected - original).abs().max()


def test_with_little_calibration_text_the_hessian_leans_toward_its_diagonal():
    x = correlated_inputs(tokens=32, features=96)
    stats = InputStats.empty(96)
    stats.add(x)
    shrunk = shrink_hessian(stats.hessian, stats.tokens)
    weight = 96 / (96 + 32)
    torch.testing.assert_close(torch.diag(shrunk), torch.diag(stats.hessian))
    off = ~torch.eye(96, dtype=torch.bool)
    torch.testing.assert_close(shrunk[off], (1 - weight) * stats.hessian[off])
    # its limit, a diagonal Hessian, passes no error on: GPTQ is then round-to-nearest on the same grid
    w = torch.randn(8, 96, generator=torch.Generator().manual_seed(3))
    settings = GptqSettings(32, True, block_size=32)
    diagonal, _ = gptq_quantize(w, torch.diag(torch.diag(stats.hessian)), settings)
    assert torch.equal(diagonal.q, quantize_int4_groupwise(w, 32, True).q)
