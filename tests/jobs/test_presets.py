"""The guided job's presets: values by model and data size, batch sizes that fit, overrides."""

from __future__ import annotations

import pytest

from jobs.guided import params, presets, sizing
from jobs.models import ComputeProfile
from jobs.web.histogram import bin_edges, counts, length_histogram
from trainers import estimate
from trainers.spec import TrainSpec

LLAMA_7B = {
    "model_type": "llama",
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
}


SMALL_LM = {
    **LLAMA_7B,
    "hidden_size": 1024,
    "intermediate_size": 2816,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
}  # about 0.37 B parameters
MINILM = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 384,
    "intermediate_size": 1536,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}
TASK_OF = {
    "sft": "instruction",
    "pretrain": "text",
    "classification": "classification",
    **{name: "preference" for name in ("dpo", "orpo", "simpo", "kto")},
}


def facts(config: dict) -> sizing.ModelFacts:
    shape = estimate.shape_from_config(config)
    return sizing.ModelFacts(shape, estimate.parameter_count(shape), "", shape.max_positions)


def recipe(preset: str, objective: str, config: dict = LLAMA_7B, rows: int = 2000, profile=None, **kw):
    size = presets.Sizing(facts(config), rows, kw.pop("max_length", 512), profile)
    return presets.recipe(presets.PRESETS[preset], objective, size, **kw)


def as_spec(r: presets.Recipe) -> TrainSpec:
    """The recipe as the job's spec: what services.build_spec spreads the params into."""
    return TrainSpec(
        job_id=1,
        attempt=1,
        output_dir="/tmp/out",
        method=r.method,
        **r.params,
        base_model={"name": "m", "path": "/m"},
        dataset={"path": "/d", "sha256": "0" * 64, "format": "jsonl", "task": TASK_OF[r.objective]},
    )


@pytest.fixture
def gpu(db):
    return ComputeProfile.objects.create(name="a100", gpu_type="nvidia-a100-80gb", gpu_count=1)


@pytest.mark.parametrize(
    ("parameters", "objective", "method", "rate"),
    [
        (150_000, "sft", "lora", 2e-3),  # pico demo models learn at 10 x
        (7_000_000_000, "sft", "lora", 2e-4),
        (70_000_000_000, "sft", "lora", 1e-4),
        (7_000_000_000, "sft", "full", 2e-5),
        (7_000_000_000, "dpo", "full", 5e-7),
        (7_000_000_000, "dpo", "lora", 5e-6),
        (22_000_000, "classification", "full", 1e-4),  # measured: docs/presets.md
        (22_000_000, "classification", "lora", 5e-4),
    ],
)
def test_learning_rate_follows_objective_method_and_model_size(parameters, objective, method, rate):
    assert presets.learning_rate(parameters, objective, method) == pytest.approx(rate)


@pytest.mark.parametrize("objective", list(TASK_OF))
@pytest.mark.parametrize("preset", list(presets.PRESETS))
@pytest.mark.parametrize("config", [LLAMA_7B, SMALL_LM], ids=["7b", "0.4b"])
def test_every_preset_gives_a_valid_spec_for_every_objective(db, objective, preset, config):
    r = recipe(preset, objective, config)
    spec = as_spec(r)
    assert (spec.objective, spec.method) == (objective, r.method)
    assert spec.training.learning_rate == presets.learning_rate(facts(config).parameters, objective, r.method)
    if objective in presets.OBJECTIVE_DEFAULTS:
        assert (
            getattr(spec, objective).model_dump() | presets.OBJECTIVE_DEFAULTS[objective]
            == getattr(spec, objective).model_dump()
        )


def test_the_preference_defaults_come_from_their_papers(db):
    assert as_spec(recipe("balanced", "dpo")).dpo.beta == 0.1
    simpo = as_spec(recipe("balanced", "simpo")).simpo
    assert (simpo.beta, simpo.simpo_gamma) == (2.0, 0.5)
    assert as_spec(recipe("quick", "kto")).training.batch_size >= 2  # KTO's KL needs a batch


def test_best_quality_fully_fine_tunes_a_small_model_and_adapts_a_large_one(db):
    assert recipe("best", "sft", SMALL_LM).method == "full"
    assert recipe("best", "sft", LLAMA_7B).method == "lora"
    assert recipe("best", "sft", LLAMA_7B).params["lora"]["r"] == 32
    assert recipe("balanced", "sft", SMALL_LM).method == "lora"


def test_a_small_encoder_is_fully_fine_tuned_as_a_classifier_from_balanced_on(db):
    assert recipe("quick", "classification", MINILM).method == "lora"
    balanced = recipe("balanced", "classification", MINILM)
    assert balanced.method == "full" and balanced.params["training"]["learning_rate"] == 1e-4
    assert balanced.params["training"]["warmup_ratio"] == 0.1 and balanced.params["training"]["epochs"] == 2
    assert recipe("balanced", "sft", MINILM).params["training"]["warmup_ratio"] == 0.03
    assert "lora" not in balanced.params  # full fine-tuning takes no adapter settings
    assert (
        balanced.params["training"]["batch_size"] * balanced.params["training"]["gradient_accumulation_steps"]
        == 16
    )


def test_quick_on_a_gpu_trains_a_large_model_with_qlora(gpu):
    assert recipe("quick", "sft", LLAMA_7B, profile=gpu).method == "qlora"
    assert recipe("quick", "sft", LLAMA_7B).method == "lora"  # no GPU: no 4-bit kernels
    assert recipe("quick", "sft", SMALL_LM, profile=gpu).method == "lora"
    spec = as_spec(recipe("quick", "dpo", LLAMA_7B, profile=gpu))
    assert spec.method == "qlora" and spec.method_params["quant_type"] == "nf4"


def test_a_model_too_big_for_16_bit_lora_falls_back_to_qlora(db):
    t4 = ComputeProfile.objects.create(name="t4", gpu_type="nvidia-t4", gpu_count=1)
    assert recipe("balanced", "sft", LLAMA_7B, profile=t4).method == "qlora"


def test_continued_pretraining_packs_rows(db):
    assert as_spec(recipe("balanced", "pretrain")).training.packing is True
    assert as_spec(recipe("balanced", "sft")).training.packing is False


def test_quick_and_balanced_instruction_tuning_batch_by_length_and_best_quality_shuffles(db):
    grouped = {key: recipe(key, "sft").params["training"]["group_by_length"] for key in presets.PRESETS}
    assert grouped == {"quick": True, "balanced": True, "best": False}
    assert recipe("quick", "dpo").params["training"]["group_by_length"] is False  # sft's batching only


@pytest.mark.parametrize(
    ("preset", "objective", "rows", "epochs"),
    [
        ("quick", "sft", 100_000, 1),
        ("balanced", "sft", 5_000, 3),
        ("balanced", "sft", 50_000, 2),
        ("best", "sft", 500_000, 2),
        ("best", "classification", 50_000, 3),  # 3 at 1e-4 (docs/presets.md), was 4 at 3e-5
        ("balanced", "dpo", 50_000, 2),
        ("balanced", "pretrain", 50_000, 1),
    ],
)
def test_epochs_follow_dataset_size(db, preset, objective, rows, epochs):
    params = recipe(preset, objective, rows=rows).params
    assert params["training"]["epochs"] == epochs
    if "lora" in params:
        assert params["lora"]["alpha"] == 2 * params["lora"]["r"]


def test_a_tiny_dataset_still_gets_the_presets_minimum_of_steps(db):
    params = recipe("quick", "sft", rows=50).params
    steps = estimate.optimizer_steps(45, 8, 1, params["training"]["epochs"])
    assert steps >= presets.PRESETS["quick"].min_steps


def test_the_batch_shrinks_until_the_estimate_fits_and_accumulation_keeps_it_at_8(db):
    small_gpu = ComputeProfile.objects.create(name="t4", gpu_type="nvidia-t4", gpu_count=1)
    big_gpu = ComputeProfile.objects.create(name="a100", gpu_type="nvidia-a100-80gb", gpu_count=1)
    model = {**LLAMA_7B, "num_hidden_layers": 8}  # about 2 B parameters
    on_big = recipe("balanced", "sft", model, rows=1000, profile=big_gpu, max_length=1024).params["training"]
    on_small = recipe("balanced", "sft", model, rows=1000, profile=small_gpu, max_length=1024)
    assert on_big["batch_size"] == 8 and on_big["gradient_accumulation_steps"] == 1
    t = on_small.params["training"]
    assert on_small.method == "lora" and t["batch_size"] < 8
    assert t["batch_size"] * t["gradient_accumulation_steps"] == 8
    fit = sizing.training_fit(facts(model), small_gpu, rank=16, seq_len=1024, batch_size=t["batch_size"])
    assert fit.fits


def test_full_fine_tuning_and_qlora_change_the_memory_estimate(db):
    model = facts(LLAMA_7B)
    lora = sizing.training_fit(model, None, rank=16, seq_len=512, batch_size=1)
    full = sizing.training_fit(model, None, rank=16, seq_len=512, batch_size=1, method="full")
    qlora = sizing.training_fit(model, None, rank=16, seq_len=512, batch_size=1, method="qlora")
    with_reference = sizing.training_fit(
        model, None, rank=16, seq_len=512, batch_size=1, method="full", reference=True
    )
    assert qlora.memory.total < lora.memory.total < full.memory.total < with_reference.memory.total
    assert full.memory.optimizer == 8 * model.parameters  # AdamW's two fp32 moments per weight


def test_overrides_are_validated_by_the_catalogue_models(db):
    base = recipe("quick", "dpo").params
    changed = params.with_overrides(base, "lora", {"r": 32, "epochs": 1.5, "dpo__beta": 0.3})
    assert (changed["lora"]["r"], changed["training"]["epochs"], changed["dpo"]["beta"]) == (32, 1.5, 0.3)
    assert changed["lora"]["alpha"] == base["lora"]["alpha"]  # the rest stays the preset's
    with pytest.raises(params.ParamsInvalid) as refused:
        params.with_overrides(base, "lora", {"dropout": 2.0, "batch_size": 0, "dpo__beta": -1})
    assert set(refused.value.errors) == {"dropout", "batch_size", "dpo__beta"}


def test_every_catalogue_parameter_gets_a_form_field_with_its_help():
    for f in params.all_fields():
        field = params.form_field(f)
        assert field.help_text and "Default" in field.help_text, f.name
        assert not field.required


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


def test_a_grpo_plan_counts_its_groups_in_memory_and_their_generation_in_time(db):
    r = recipe("balanced", "grpo", SMALL_LM, rows=400, max_length=128)
    cpu = ComputeProfile.objects.create(name="cpu", cpu="8", memory="32Gi")

    def planned(**grpo):
        params = {**r.params, "grpo": {**r.params["grpo"], **grpo}}
        return presets.plan(r.method, params, facts=facts(SMALL_LM), rows=400, mean_tokens=40, profile=cpu)

    small, large, long = (
        planned(num_generations=4),
        planned(num_generations=16),
        planned(max_completion_length=256),
    )
    assert large.fit.memory.total > small.fit.memory.total  # 16 answers a prompt in memory, not 4
    assert large.seconds > 2 * small.seconds and long.seconds > planned().seconds
    as_sft = presets.plan(r.method, {**r.params, "objective": "sft"}, facts=facts(SMALL_LM), rows=400,
                          mean_tokens=40, profile=cpu)  # fmt: skip
    assert planned().seconds > 4 * as_sft.seconds  # 8 answers sampled and trained on per prompt


def test_a_grpo_preset_leaves_room_for_the_answers_in_max_seq_length(db):
    r = recipe("quick", "grpo", SMALL_LM, max_length=128)
    assert r.params["training"]["max_seq_length"] == 128 + r.params["grpo"]["max_completion_length"]


def test_sparse_and_half_fine_tuning_fall_between_lora_and_full(db):
    """SpIEL trains 1% of each matrix (plus its indices); HFT half of each block, AdamW's state for that
    half only: both below full fine-tuning, SpIEL near LoRA."""
    model = facts(LLAMA_7B)
    fit = {
        method: sizing.training_fit(model, None, rank=16, seq_len=512, batch_size=1, method=method)
        for method in ("lora", "spiel", "hft", "full")
    }
    assert fit["spiel"].memory.total < fit["hft"].memory.total < fit["full"].memory.total
    assert fit["spiel"].memory.total < 1.2 * fit["lora"].memory.total
    half = sizing.trainable_count(model, "hft", 16)
    assert 0.4 * model.parameters < half < 0.5 * model.parameters
    assert fit["hft"].memory.optimizer == 8 * half
