"""Mixed precision under a budget: the integer program, the budgets' refusals, the outputs read back
by their consumers, and lower perplexity than uniform 4-bit at the same size on the trained model."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import gguf
import pytest
import torch
from pydantic import ValidationError

from tests.trainers.quantize.conftest import toy_texts
from trainers.quantize.adaquant import adaquant, output_error
from trainers.quantize.allocate import allocate
from trainers.quantize.budget import check_budget
from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.gguf_export import write_gguf
from trainers.quantize.gptq import InputStats
from trainers.quantize.intn import quantize_groupwise
from trainers.quantize.mixed import mixed_model
from trainers.quantize.params_mixed import MixedParams, stored_bits_per_weight
from trainers.quantize.rtn import quantize_int4_groupwise
from trainers.quantize.sensitivity import target_linears
from trainers.quantize.torchao_export import write_torchao
from trainers.spec import SpecError


def test_the_integer_program_finds_the_brute_force_optimum():
    generator = torch.Generator().manual_seed(0)
    options = {"int2": 2.3, "int4": 4.3, "int8": 8.4}
    layers = [f"l{i}" for i in range(5)]
    loss = {
        layer: {"int2": float(torch.rand(1, generator=generator)) * 3, "int4": 0.1 * (i + 1), "int8": 0.0}
        for i, layer in enumerate(layers)
    }
    size = {name: {o: bpw * (i + 1) * 100 for o, bpw in options.items()} for i, name in enumerate(layers)}
    budget = 0.5 * sum(s["int8"] for s in size.values())
    best = min(
        (sum(loss[name][o] for name, o in zip(layers, pick, strict=True)), pick)
        for pick in itertools.product(options, repeat=len(layers))
        if sum(size[name][o] for name, o in zip(layers, pick, strict=True)) <= budget
    )
    found = allocate(loss, size, bytes_budget=budget)
    assert found.size_bytes <= budget
    assert found.loss_increase == pytest.approx(best[0])
    by_loss = allocate(loss, size, loss_budget=best[0] + 1e-9)  # the accuracy budget: smallest model
    assert by_loss.size_bytes <= found.size_bytes and by_loss.loss_increase <= best[0] + 1e-9


def test_a_loss_budget_nothing_meets_is_refused_with_the_smallest_reachable():
    with pytest.raises(SpecError, match=r"loss_budget: .* the smallest reachable is 0.5"):
        allocate({"a": {"int2": 2.0, "int8": 0.5}}, {"a": {"int2": 1.0, "int8": 4.0}}, loss_budget=0.1)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"bits_budget": 1.5}, "bits_budget", "below the smallest model the widths [2, 3, 4, 8] make (2.281"),
        ({"bits_budget": 9}, "bits_budget", "more than the widest choice costs"),
        ({"bits_budget": 3.0, "bits": [4, 8]}, "bits_budget", "allow narrower widths"),
        ({"bytes_budget": 0}, "bytes_budget", "greater than or equal to 1"),
        ({"loss_budget": -1}, "loss_budget", "greater than 0"),
        ({}, None, "give exactly one budget"),
        ({"bits_budget": 4, "loss_budget": 0.1}, None, "got bits_budget, loss_budget"),
        ({"bits_budget": 4, "bits": [4, 4]}, "bits", "each width may appear once"),
    ],
)
def test_a_bad_budget_is_refused_at_its_field(params: dict, field: str | None, words: str):
    with pytest.raises(ValidationError) as caught:
        MixedParams(**params)
    error = caught.value.errors()[0]
    assert error["loc"] == ((field,) if field else ())
    assert words in error["msg"]


def test_a_size_budget_below_the_narrowest_widths_is_refused_from_the_shapes():
    shapes = {"a": (64, 64), "b": (128, 64)}
    narrowest = (64 * 64 + 128 * 64) * stored_bits_per_weight(2, 64) / 8
    with pytest.raises(
        SpecError,
        match=r"mixed_precision.bytes_budget: 3,503 bytes .* \(3,504 bytes, every layer at 2 bits\)",
    ):
        check_budget(MixedParams(bytes_budget=int(narrowest) - 1), shapes, ["torchao"])
    check_budget(MixedParams(bytes_budget=int(narrowest) + 1), shapes, ["torchao"])
    with pytest.raises(SpecError, match=r"mixed_precision.bits_budget: a GGUF output holds at least Q4_0"):
        check_budget(MixedParams(bits_budget=4.3), shapes, ["gguf_q4_0"])


def test_widths_other_than_four_follow_the_same_rounding_rule():
    weight = torch.randn(8, 64, generator=torch.Generator().manual_seed(3))
    at4 = quantize_groupwise(weight, 4, 32)
    assert torch.equal(at4.dequantize(), quantize_int4_groupwise(weight, 32, False).dequantize())
    errors = [(weight - quantize_groupwise(weight, b, 32).dequantize()).abs().max() for b in (2, 3, 4, 8)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.02
    steps = quantize_groupwise(weight, 3, 32).scale.repeat_interleave(32, dim=1)
    assert ((weight - quantize_groupwise(weight, 3, 32).dequantize()).abs() <= steps / 2 + 1e-6).all()


def test_adaquant_lowers_the_layer_output_error_of_round_to_nearest():
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(256, 64, generator=generator) @ torch.randn(64, 64, generator=generator) / 8
    weight = torch.randn(16, 64, generator=generator) * 0.1
    stats = InputStats.empty(64)
    stats.add(x)
    start = quantize_groupwise(weight, 3, 32)
    tuned = adaquant(weight, stats.hessian, start, steps=100)
    before = output_error(weight, start.dequantize(), stats.hessian)
    assert output_error(weight, tuned.dequantize(), stats.hessian) < 0.85 * before


def calibration_windows(tokenizer, count: int = 16, seq_len: int = 64) -> list[torch.Tensor]:
    stream = [
        i for text in toy_texts(200, seed=4) for i in tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    ]
    return [torch.tensor([stream[i * seq_len : (i + 1) * seq_len]]) for i in range(count)]


def mean_kl(reference, model, tokenizer, texts: list[str]) -> float:
    """Mean per-token KL(reference ‖ model): how far quantization moved the next-token distribution."""
    total = 0.0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            p = torch.log_softmax(reference(input_ids=ids).logits, -1)
            q = torch.log_softmax(model(input_ids=ids).logits, -1)
            total += float((p.exp() * (p - q)).sum(-1).mean())
    return total / len(texts)


def uniform_copy(model, bits: int, group_size: int):
    copied = copy.deepcopy(model)
    with torch.no_grad():
        for module in target_linears(copied).values():
            module.weight.copy_(quantize_groupwise(module.weight, bits, group_size).dequantize())
    return copied


@pytest.fixture(scope="module")
def mixed_run(trained_model_dir: Path):
    """The trained model, uniform int3 (one group per 64-wide row) and mixed precision at its size.

    The toy language sits at its perplexity floor (about 2.0) at 3 and 4 bits alike, so here the
    measure is the KL divergence from the full model; perplexity on real text is the slow test's
    (test_quant_real_text_slow.py) and the bench's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(trained_model_dir)
    original = AutoModelForCausalLM.from_pretrained(trained_model_dir).eval()
    uniform = uniform_copy(original, 3, 64)
    weights = sum(m.weight.numel() for m in target_linears(original).values())
    uniform_bytes = weights * stored_bits_per_weight(3, 64) / 8
    mixed = copy.deepcopy(original)
    params = MixedParams(bytes_budget=int(uniform_bytes), group_size=64)
    result = mixed_model(mixed, calibration_windows(tokenizer), params)
    return tokenizer, original, uniform, uniform_bytes, mixed, result


def test_mixed_precision_stays_closer_to_the_full_model_than_uniform_widths_of_the_same_size(
    mixed_run, held_out_texts: list[str]
):
    tokenizer, original, uniform, uniform_bytes, mixed, result = mixed_run
    assert result.summary["bytes"] <= uniform_bytes
    assert len(set(result.widths.values())) > 1  # it did mix
    at3 = mean_kl(original, uniform, tokenizer, held_out_texts)
    chosen = mean_kl(original, mixed, tokenizer, held_out_texts)
    assert chosen < 0.6 * at3


def test_the_torchao_output_holds_each_layer_at_its_width_and_loads_back(
    mixed_run, trained_model_dir: Path, tmp_path: Path
):
    from transformers import AutoModelForCausalLM

    tokenizer, _original, _uniform, _bytes, mixed, result = mixed_run
    checkpoint = Checkpoint(trained_model_dir)
    out = write_torchao(
        checkpoint,
        tmp_path / "torchao",
        lambda n, t: result.weights.get(n),
        {},
        result.torchao_config(),
        "card",
    )
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "torchao"
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    for name, bits in result.widths.items():
        module = loaded.get_submodule(name.removesuffix(".weight"))
        assert module.weight.target_dtype == getattr(torch, f"int{bits}"), name
        assert torch.equal(module.weight.dequantize(), result.weights[name].dequantize()), name
    ids = torch.tensor([tokenizer("3 plus 4 is 7.")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, mixed(input_ids=ids).logits, atol=1e-4)


def test_the_gguf_output_has_the_planned_type_per_tensor(mixed_run, trained_model_dir: Path, tmp_path: Path):
    tokenizer, original = mixed_run[:2]
    params = MixedParams(bits_budget=5.0, bits=[4, 8], group_size=64)
    result = mixed_model(
        copy.deepcopy(original), calibration_windows(tokenizer, 8), params, outputs=("gguf_q4_0",)
    )
    plan = result.summary["gguf"]
    assert (
        set(result.gguf_types.values()) <= {"Q4_0", "Q5_0", "Q8_0"}
        and len(set(result.gguf_types.values())) > 1
    )
    assert 4.5 < plan["bits_per_weight"] <= 5.0
    path = write_gguf(
        Checkpoint(trained_model_dir), tmp_path / "m.gguf", "Q4_0", "trained", tensor_types=result.gguf_types
    )
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}
    assert types["blk.0.attn_q.weight"] == result.gguf_types["model.layers.0.self_attn.q_proj.weight"]
    assert types["blk.1.ffn_down.weight"] == result.gguf_types["model.layers.1.mlp.down_proj.weight"]
    assert types["output.weight" if "output.weight" in types else "token_embd.weight"] == "Q8_0"
