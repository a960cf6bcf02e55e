"""Perplexity on real text (held-out paragraphs of the Python library reference) of a small Llama
trained on it (tests/support/doc_model.py): mixed precision against uniform int4 at the same stored
size, and AWQ against round-to-nearest at the same bits and group size. Slow (`make test-slow`):
the first run trains the model (minutes on a CPU; kept under var/test), each quantization runs on
16 calibration windows. bench/quant_mixed.py prints the same comparison with ratios.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from tests.support.doc_model import doc_model, doc_texts, token_windows
from tests.trainers.quantize.test_mixed import uniform_copy
from trainers.evaluation.metrics import score_texts
from trainers.quantize.awq import awq_model
from trainers.quantize.intn import quantize_groupwise
from trainers.quantize.mixed import mixed_model
from trainers.quantize.params_mixed import AwqParams, MixedParams, stored_bits_per_weight
from trainers.quantize.sensitivity import target_linears

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def doc_run():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    var = Path(os.environ.get("HONE_VAR", REPO / "var" / "test"))
    model_dir = doc_model(var / "models" / "quant-doc-64x4-600", hidden=64, layers=4, steps=600)
    train, held_out = doc_texts()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    return tokenizer, model, token_windows(tokenizer, train, 16, 128), held_out[:200]


def perplexity(model, tokenizer, texts: list[str]) -> float:
    return score_texts(model, tokenizer, texts, max_length=256, stride=128).perplexity


def test_mixed_precision_has_lower_perplexity_than_uniform_int4_at_the_same_size(doc_run):
    tokenizer, model, windows, held_out = doc_run
    weights = sum(m.weight.numel() for m in target_linears(model).values())
    uniform_bytes = weights * stored_bits_per_weight(4, 64) / 8
    mixed = copy.deepcopy(model)
    result = mixed_model(mixed, windows, MixedParams(bytes_budget=int(uniform_bytes), group_size=64))
    assert result.summary["bytes"] <= uniform_bytes
    assert perplexity(mixed, tokenizer, held_out) < perplexity(
        uniform_copy(model, 4, 64), tokenizer, held_out
    )


@pytest.mark.parametrize("symmetric", [False, True])
def test_awq_perplexity_is_at_most_round_to_nearest_at_the_same_bits_and_groups(doc_run, symmetric: bool):
    tokenizer, model, windows, held_out = doc_run
    awq = copy.deepcopy(model)
    awq_model(awq, windows, AwqParams(group_size=64, symmetric=symmetric))
    rtn = copy.deepcopy(model)
    for module in target_linears(rtn).values():
        module.weight.data = quantize_groupwise(module.weight.data, 4, 64, symmetric).dequantize()
    assert perplexity(awq, tokenizer, held_out) <= perplexity(rtn, tokenizer, held_out)
