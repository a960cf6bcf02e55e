"""AWQ: the scales leave the float model unchanged, the search lowers the rounding error where
activations are uneven, and the compressed-tensors output loads back equal to our dequantized model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from tests.trainers.quantize.test_mixed import calibration_windows
from trainers.quantize.awq import AwqSettings, awq_model, check_awq_layers, fold_scale, search_clip
from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.compressed_tensors_export import write_compressed_tensors
from trainers.quantize.params_mixed import AwqParams
from trainers.quantize.rtn import quantize_int4_groupwise
from trainers.spec import SpecError


@pytest.fixture(scope="module")
def trained(trained_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(trained_model_dir), AutoModelForCausalLM.from_pretrained(
        trained_model_dir
    ).eval()


def test_folding_a_scale_into_the_norm_leaves_the_float_model_unchanged(trained):
    tokenizer, model = trained
    model = copy.deepcopy(model)
    ids = torch.tensor([tokenizer("anna has a lemon and the lemon is near ben.")["input_ids"]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        layer = model.model.layers[0]
        scale = torch.rand(64, generator=torch.Generator().manual_seed(0)) + 0.5
        fold_scale(
            layer.input_layernorm,
            [layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj],
            scale,
        )
        fold_scale(layer.self_attn.v_proj, [layer.self_attn.o_proj], scale)
        assert torch.allclose(model(input_ids=ids).logits, before, atol=1e-4)


def test_clipping_lowers_the_output_error_of_round_to_nearest():
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(32, 64, generator=generator) * 0.05
    weight[:, 3] *= 12  # one heavy-tailed column stretches its groups' ranges
    x = torch.randn(256, 64, generator=generator)
    s = AwqSettings(group_size=32, symmetric=False)
    limit = search_clip(weight, x, s)
    clipped = torch.clamp(weight.reshape(32, 2, 32), -limit, limit).reshape(32, 64)
    plain = quantize_int4_groupwise(weight, 32, False).dequantize()
    chosen = quantize_int4_groupwise(clipped, 32, False).dequantize()
    assert (x @ (weight - chosen).T).pow(2).mean() <= (x @ (weight - plain).T).pow(2).mean()
    assert (limit <= weight.abs().reshape(32, 2, 32).amax(dim=-1, keepdim=True) + 1e-7).all()


def test_a_model_without_the_llama_layout_is_refused_before_any_work():
    with pytest.raises(SpecError, match="awq_int4 knows Llama-style decoder layers .* Use gptq_int4"):
        check_awq_layers({"model.layers.0.attn.c_attn.weight": (192, 64)})


def test_the_compressed_tensors_output_loads_back_equal_to_our_dequantized_model(
    trained, trained_model_dir: Path, tmp_path: Path
):
    from transformers import AutoModelForCausalLM

    tokenizer, model = trained
    quantized = copy.deepcopy(model)
    p = AwqParams(group_size=32, symmetric=True, grid=4, clip_grid=4)
    result = awq_model(quantized, calibration_windows(tokenizer, 8), p)
    assert set(result.biases) >= {
        "model.layers.0.input_layernorm.weight",
        "model.layers.1.post_attention_layernorm.weight",
    }
    out = write_compressed_tensors(Checkpoint(trained_model_dir), tmp_path / "ct", result)
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert (config["quant_method"], config["format"]) == ("compressed-tensors", "pack-quantized")
    assert config["config_groups"]["group_0"]["weights"]["group_size"] == 32
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()  # transformers' compressed-tensors quantizer
    ids = torch.tensor([tokenizer("7 plus 2 is 9. spell river: r i v e r.")["input_ids"]])
    with torch.no_grad():
        ours, theirs = quantized(input_ids=ids).logits, loaded(input_ids=ids).logits
        original = model(input_ids=ids).logits
    assert torch.allclose(theirs, ours, atol=1e-4)
    assert not torch.allclose(theirs, original, atol=1e-3)  # it is the quantized model, not the original
