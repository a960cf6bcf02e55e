"""The quantize-method registry: one entry per method, and everything else asks it."""

from __future__ import annotations

import pytest
import torch

from trainers import chain_methods
from trainers.quantize import registry
from trainers.quantize.method import QuantizeMethod
from trainers.spec_quantize import QuantizeSpec


def test_every_method_with_parameters_has_its_group_on_the_spec():
    for method in registry.METHODS.values():
        if method.params is not None:
            assert QuantizeSpec.model_fields[method.name].annotation is method.params, method.name
    assert set(QuantizeSpec.model_fields["method"].annotation.__args__) == set(registry.METHODS)


def test_the_catalogue_describes_the_registry():
    assert list(chain_methods.QUANTIZE_METHODS) == list(registry.METHODS)
    described = {entry["name"]: entry for entry in chain_methods.describe("quantize")}
    assert described["gptq_int4"]["title"] == registry.get("gptq_int4").title
    assert "calibration_samples" in described["gptq_int4"]["parameters"]["properties"]
    assert described["rtn_int8"]["parameters"]["properties"] == {}
    assert described["mixed_precision"]["details"]["paper"] == "https://arxiv.org/abs/2006.10518"
    assert "bits_budget" in described["mixed_precision"]["parameters"]["properties"]
    assert described["awq_int4"]["details"]["paper"] == "https://arxiv.org/abs/2306.00978"


def test_an_unknown_method_is_named_with_the_known_ones():
    with pytest.raises(registry.UnknownMethod) as caught:
        registry.get("squeezellm")
    assert str(caught.value) == (
        "unknown quantize method 'squeezellm'; known methods: rtn_int8, rtn_int4, gptq_int4, awq_int4, "
        "mixed_precision"
    )


def test_a_method_computes_its_integers_one_way():
    with pytest.raises(ValueError, match="give one of quantize_tensor or quantize_model"):
        QuantizeMethod("both", "Both", "", 4, quantize_tensor=lambda w, p: w, quantize_model=lambda *a: None)
    assert registry.get("gptq_int4").calibrated and not registry.get("rtn_int4").calibrated


def test_the_tensor_wise_runners_use_their_parameters():
    weight = torch.randn(4, 64)
    int8 = registry.get("rtn_int8").quantize_tensor(weight, None)
    assert (int8.bits, int8.group_size) == (8, 64)
    params = registry.get("rtn_int4").params(group_size=16, symmetric=True)
    int4 = registry.get("rtn_int4").quantize_tensor(weight, params)
    assert (int4.bits, int4.group_size, int4.symmetric, tuple(int4.scale.shape)) == (4, 16, True, (4, 4))
