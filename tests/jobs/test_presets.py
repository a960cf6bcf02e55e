"""The guided job's presets: values by model and data size, batch sizes that fit, overrides."""

from __future__ import annotations

import pytest

from jobs import presets, sizing
from jobs.histogram import bin_edges, counts, length_histogram
from jobs.models import ComputeProfile
from trainers import estimate

LLAMA_7B = {
    "model_type": "llama",
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
}


def facts(config: dict) -> sizing.ModelFacts:
    shape = estimate.shape_from_config(config)
    return sizing.ModelFacts(shape, estimate.parameter_count(shape), "", shape.max_positions)


@pytest.mark.parametrize(
    ("parameters", "rate"), [(150_000, 2e-3), (7_000_000_000, 2e-4), (70_000_000_000, 1e-4)]
)
def test_learning_rate_follows_model_size(parameters, rate):
    assert presets.learning_rate(parameters) == rate


@pytest.mark.parametrize(
    ("preset", "rows", "epochs"),
    [
        ("quick", 100_000, 1),
        ("balanced", 5_000, 3),
        ("balanced", 50_000, 2),
        ("best", 500, 5),
        ("best", 500_000, 2),
    ],
)
def test_epochs_follow_dataset_size(db, preset, rows, epochs):
    params = presets.preset_params(
        presets.PRESETS[preset], facts=facts(LLAMA_7B), rows=rows, max_length=512, profile=None
    )
    assert params["training"]["epochs"] == epochs
    assert params["lora"]["alpha"] == 2 * params["lora"]["r"]


def test_a_tiny_dataset_still_gets_the_presets_minimum_of_steps(db):
    params = presets.preset_params(
        presets.PRESETS["quick"], facts=facts(LLAMA_7B), rows=50, max_length=512, profile=None
    )
    steps = estimate.optimizer_steps(45, 8, 1, params["training"]["epochs"])
    assert steps >= presets.PRESETS["quick"].min_steps


def test_the_batch_shrinks_until_the_estimate_fits_and_accumulation_keeps_it_at_8(db):
    small_gpu = ComputeProfile.objects.create(name="t4", gpu_type="nvidia-t4", gpu_count=1)
    big_gpu = ComputeProfile.objects.create(name="a100", gpu_type="nvidia-a100-80gb", gpu_count=1)
    model = facts({**LLAMA_7B, "num_hidden_layers": 8})  # about 2 B parameters
    on_big = presets.preset_params(
        presets.PRESETS["balanced"], facts=model, rows=1000, max_length=1024, profile=big_gpu
    )["training"]
    on_small = presets.preset_params(
        presets.PRESETS["balanced"], facts=model, rows=1000, max_length=1024, profile=small_gpu
    )["training"]
    assert on_big["batch_size"] == 8 and on_big["gradient_accumulation_steps"] == 1
    assert on_small["batch_size"] < 8
    assert on_small["batch_size"] * on_small["gradient_accumulation_steps"] == 8
    fit = sizing.training_fit(model, small_gpu, rank=16, seq_len=1024, batch_size=on_small["batch_size"])
    assert fit.fits


def test_overrides_are_validated_by_the_spec():
    base = presets.with_overrides({"lora": {}, "training": {}}, {})
    assert base["lora"]["r"] == 8  # the spec's defaults fill the rest
    changed = presets.with_overrides(base, {"r": 32, "epochs": 1.5})
    assert (changed["lora"]["r"], changed["training"]["epochs"]) == (32, 1.5)
    with pytest.raises(presets.ParamsInvalid) as refused:
        presets.with_overrides(base, {"dropout": 2.0, "batch_size": 0})
    assert set(refused.value.errors) == {"dropout", "batch_size"}


def test_held_out_rows_match_the_trainers_split():
    assert presets.held_out(400, 0.1) == 40
    assert presets.held_out(5, 0.1) == 1
    assert presets.held_out(100_000, 0.1) == 1000  # capped like trainers.train.MAX_EVAL_ROWS


def test_histogram_bins_put_the_cut_on_an_edge_when_rows_reach_it():
    lengths = [10, 200, 300, 520, 900]
    edges = bin_edges(lengths, 512)
    assert 512 in edges and edges[0] == 0 and edges[-1] > 900
    assert sum(counts(lengths, edges)) == len(lengths)
    svg = length_histogram(lengths, 512)
    assert "2 longer than 512 tokens would be cut" in svg
    assert svg.count('fill="url(#cut-hatch)"') == 2  # the two cut rows' bars


def test_histogram_of_short_rows_fits_the_rows():
    edges = bin_edges([19, 26, 20], 512)
    assert edges[-1] < 64 and 512 not in edges
    assert "max length 512 →" in length_histogram([19, 26, 20], 512)
    assert "No rows" in length_histogram([], 512)
