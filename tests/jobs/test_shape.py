"""Compute profiles with a shape (nodes × processes per node): the strategy Hone chooses from the
model's size and one GPU's memory, the memory per GPU under it, and the refusal of what fits
under none, naming what to change. Counted from config.json alone (no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import launch
from jobs.launch import LaunchRefused
from jobs.lifecycle import queue, shape, specs
from jobs.models import ComputeProfile, ModelAsset
from trainers import distributed
from trainers.spec import SpecError, parse_spec

LLAMA_7B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
    "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
    "max_position_embeddings": 4096, "tie_word_embeddings": False,
}  # fmt: skip
FULL = {"training": {"batch_size": 1, "max_seq_length": 512}}


@pytest.fixture
def llama_7b(db, tmp_path: Path) -> ModelAsset:
    folder = tmp_path / "llama-7b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_7B))
    return ModelAsset.objects.create(
        name="llama-7b", source="builtin", path=str(folder), task="causal-lm", architecture="LlamaForCausalLM"
    )


def _gpus(name: str, nodes: int, per_node: int, gpu: str = "nvidia-h100-80gb") -> ComputeProfile:
    return ComputeProfile.objects.create(
        name=name,
        executor="kubernetes",
        gpu_type=gpu,
        gpu_count=per_node,
        nodes=nodes,
        cpu="16",
        memory="200Gi",
    )


def test_a_lora_adapter_of_7b_on_two_gpus_is_ddp_with_the_whole_model_on_each(llama_7b):
    planned = shape.plan(llama_7b, _gpus("h100x2", 1, 2), "lora", {})
    assert (planned.strategy, planned.fits) == ("ddp", True)
    assert planned.text.startswith("1 node × 2 GPUs (2 processes): each process holds a full copy")


def test_a_full_fine_tune_of_7b_is_sharded_across_eight_gpus_and_said_in_plain_words(llama_7b):
    one = shape.plan(llama_7b, _gpus("h100x1", 1, 1), "full", FULL)
    eight = shape.plan(llama_7b, _gpus("h100x8", 1, 8), "full", FULL)
    assert one.fits is False  # 16 bytes per weight of AdamW state alone: ~100 GiB
    assert (eight.strategy, eight.fits) == ("fsdp_full_shard", True)
    assert eight.need_bytes < one.need_bytes / 4
    assert "split across every GPU (FSDP full shard)" in eight.text


def test_across_nodes_hybrid_sharding_is_chosen_when_one_nodes_gpus_hold_the_model(llama_7b):
    planned = shape.plan(llama_7b, _gpus("h100-2x8", 2, 8), "full", FULL)
    assert (planned.strategy, planned.fits) == ("fsdp_hybrid_shard", True)
    assert planned.spec == {
        "nodes": 2, "processes_per_node": 8, "strategy": "fsdp_hybrid_shard", "asked": "auto",
        "sized": True,
    }  # fmt: skip


def test_a_job_that_fits_under_no_strategy_is_refused_naming_what_to_change(llama_7b, team, member, dataset):
    profile = _gpus("a10x2", 1, 2, gpu="nvidia-a10g")
    with pytest.raises(LaunchRefused) as refused:
        launch.launch_training(
            team=team,
            user=member,
            name="too big",
            base_model=llama_7b,
            dataset=dataset,
            method="full",
            params=FULL,
            profile=profile,
        )
    problem = refused.value.problems[0]
    assert problem.loc == ("compute_profile",)
    assert "per process under fsdp_full_shard on 1 node × 2 GPUs" in problem.message
    assert "more GPUs or nodes" in problem.message and "training.batch_size" in problem.message
    assert not llama_7b.jobs.exists()


def test_several_nodes_need_the_kubernetes_executor(tiny_model, team, member, dataset, settings):
    settings.HONE_EXECUTOR = "local"
    profile = ComputeProfile.objects.create(name="two-nodes", nodes=2)
    with pytest.raises(LaunchRefused, match="only the kubernetes executor runs"):
        launch.launch_training(
            team=team,
            user=member,
            name="x",
            base_model=tiny_model,
            dataset=dataset,
            params={},
            profile=profile,
        )


def test_the_spec_carries_the_profiles_shape_and_quotas_count_nodes_times_gpus(
    tiny_model, team, member, dataset
):
    profile = ComputeProfile.objects.create(name="cpu-2", cpu="2", memory="8Gi", processes_per_node=2)
    job = launch.launch_training(
        team=team, user=member, name="ddp", base_model=tiny_model, dataset=dataset, params={}, profile=profile
    )
    spec = specs.build_spec(job, 1, None)
    assert spec["distributed"] == {
        "nodes": 1, "processes_per_node": 2, "strategy": "ddp", "asked": "auto", "sized": True
    }  # fmt: skip
    gpu = _gpus("h100-2x4", 2, 4)
    capacities, _default = queue.capacities()
    assert capacities[gpu.pk].gpus == 8 and gpu.shape_text == "2 nodes × 4 GPUs"


def test_the_profiles_api_shows_the_shape(client, member):
    _gpus("h100-2x4", 2, 4)
    client.force_login(member)
    rows = client.get("/api/v1/profiles").json()
    row = next(
        r for r in (rows.get("results", rows) if isinstance(rows, dict) else rows) if r["name"] == "h100-2x4"
    )
    assert (row["nodes"], row["processes_per_node"], row["total_gpus"], row["shape"]) == (
        2,
        4,
        8,
        "2 nodes × 4 GPUs",
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"processes_per_node": 2, "strategy": "zero3"}, "zero3 needs DeepSpeed, which Hone's trainer image"),
        ({"processes_per_node": 2, "strategy": "fsdp_hybrid_shard"}, "on one node use fsdp_full_shard"),
    ],
)
def test_strategies_that_cannot_run_are_refused_in_the_spec(given, message, tmp_path, tiny_model_dir):
    from tests.trainers.conftest import make_spec, write_jsonl

    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}] * 4)
    spec = make_spec(tiny_model_dir, data, tmp_path / "out") | {"distributed": given}
    spec["dataset"]["task"] = "text"
    with pytest.raises(SpecError, match=message):
        parse_spec(spec)


def test_fsdp_on_cpu_processes_is_refused_rather_than_silently_replicated():
    params = distributed.DistributedParams(processes_per_node=2, strategy="fsdp_full_shard")
    assert "on CPU processes (gloo) Hone trains with ddp" in distributed.check_runs_here(params, on_gpu=False)
    assert distributed.check_runs_here(params, on_gpu=True) == ""


def test_the_job_page_says_how_its_processes_share_the_model(client, tiny_model, team, member, dataset):
    profile = ComputeProfile.objects.create(name="cpu-2", cpu="2", memory="8Gi", processes_per_node=2)
    job = launch.launch_training(
        team=team, user=member, name="ddp", base_model=tiny_model, dataset=dataset, params={}, profile=profile
    )
    job.spec = specs.build_spec(job, 1, None)
    job.save(update_fields=["spec"])
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Runs on cpu-2: 1 node × 2 CPU processes (2 processes): each process holds a full copy" in body
    assert "rank 0 reports progress and metrics" in body


# --- the user's choice of strategy: params.distributed.strategy ------------------------------


def _cpu_2() -> ComputeProfile:
    return ComputeProfile.objects.create(name="cpu-2", cpu="2", memory="8Gi", processes_per_node=2)


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ("zero3", "zero3 needs DeepSpeed, which Hone's trainer image does not include; use fsdp_full_shard"),
        ("fsdp_full_shard", "on CPU processes (gloo) Hone trains with ddp"),
        ("fsdp_hybrid_shard", "fsdp_hybrid_shard shards the model across GPUs; on CPU processes"),
        ("zero4", "Input should be 'auto', 'ddp', 'fsdp_full_shard'"),
    ],
)
def test_a_strategy_that_cannot_run_is_refused_at_its_api_path_before_anything_is_queued(
    strategy, message, tiny_model, team, member, dataset
):
    from jobs.models import Job
    from tests.api.helpers import client_for, fields, problem

    body = {
        "base_model": tiny_model.pk,
        "dataset": dataset.pk,
        "compute_profile": _cpu_2().pk,
        "params": {"distributed": {"strategy": strategy}},
    }
    response = client_for(member, team).post("/api/v1/jobs", body, format="json")
    errors = fields(problem(response, 400))
    assert message in errors.get("params.distributed.strategy", ""), errors
    assert not Job.objects.exists()


def test_a_sharded_strategy_on_one_process_is_refused_naming_what_to_change(
    tiny_model, team, member, dataset
):
    one = ComputeProfile.objects.create(name="cpu-1", cpu="2", memory="8Gi")
    with pytest.raises(LaunchRefused) as refused:
        launch.launch_training(
            team=team, user=member, name="x", base_model=tiny_model, dataset=dataset,
            params={"distributed": {"strategy": "fsdp_full_shard"}}, profile=one,
        )  # fmt: skip
    problem = refused.value.problems[0]
    assert problem.loc == ("distributed", "strategy")
    assert "profile cpu-1 runs one; choose auto or ddp, or a profile with more GPUs" in problem.message


def test_a_chosen_strategy_that_cannot_fit_is_refused_naming_the_strategy_that_would(llama_7b):
    profile = _gpus("h100x8", 1, 8)
    planned = shape.plan(llama_7b, profile, "full", FULL | {"distributed": {"strategy": "ddp"}})
    assert (planned.strategy, planned.fits, planned.fits_instead) == ("ddp", False, "fsdp_full_shard")
    why = shape.problem(planned, profile, executor="kubernetes")
    assert "per process under ddp on 1 node × 8 GPUs" in why
    assert "set params.distributed.strategy to fsdp_full_shard (or auto), under which it fits" in why


def test_a_chosen_strategy_is_kept_on_the_job_and_in_its_spec_and_said_as_chosen(
    llama_7b, team, member, dataset, client, settings
):
    settings.HONE_EXECUTOR = "kubernetes"
    params = {"distributed": {"strategy": "fsdp_full_shard"}}
    job = launch.launch_training(
        team=team, user=member, name="sharded", base_model=llama_7b, dataset=dataset, method="lora",
        params=params, profile=_gpus("h100x2", 1, 2),
    )  # fmt: skip
    assert job.params["distributed"] == {"strategy": "fsdp_full_shard"}  # a retry plans the same
    spec = specs.build_spec(job, 2, None)
    assert spec["distributed"] == {
        "nodes": 1, "processes_per_node": 2, "strategy": "fsdp_full_shard", "asked": "fsdp_full_shard",
        "sized": True,
    }  # fmt: skip
    assert parse_spec(spec).distributed.strategy == "fsdp_full_shard"
    job.spec = spec
    job.save(update_fields=["spec"])
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "split across every GPU (FSDP full shard), as you chose" in body


def test_auto_is_said_as_hones_choice(llama_7b):
    planned = shape.plan(llama_7b, _gpus("h100x8", 1, 8), "full", FULL)
    assert planned.text.endswith("(FSDP full shard), chosen by Hone as the least communication that fits")


def test_the_job_form_offers_the_strategy_in_plain_words_and_shows_a_refusal_next_to_it(
    client, member, tiny_model, dataset, settings
):
    from jobs.models import Job

    settings.HONE_DEFAULT_PROFILE = _cpu_2().name
    client.force_login(member)
    form = client.get("/jobs/new/").content.decode()
    assert '<option value="auto" selected>Auto: Hone chooses the least communication that fits' in form
    assert "Each process holds a full copy of the model and trains on its share of every batch (DDP)" in form
    data = {"base_model": tiny_model.pk, "dataset": dataset.pk, "strategy": "fsdp_full_shard"}
    refused = client.post("/jobs/new/", data)
    assert "on CPU processes (gloo) Hone trains with ddp" in refused.context["form"].errors["strategy"][0]
    assert not Job.objects.exists()
    assert client.post("/jobs/new/", data | {"strategy": "ddp"}).status_code == 302
    assert Job.objects.get().params["distributed"] == {"strategy": "ddp"}


def test_without_the_models_config_auto_says_it_could_not_size_it(db, tmp_path):
    folder = tmp_path / "no-config"
    folder.mkdir()
    model = ModelAsset.objects.create(name="opaque", source="builtin", path=str(folder), task="causal-lm")
    planned = shape.plan(model, _gpus("h100x2-opaque", 1, 2), "lora", {})
    assert (planned.strategy, planned.need_bytes, planned.spec["sized"]) == ("ddp", None, False)
    assert "least communication that fits" not in planned.text
    unknown = "Hone's default, as the model's size is unknown (no config.json to read it from)"
    assert planned.text.endswith(unknown)
    chosen = shape.plan(model, _gpus("h100x2-opaque-2", 1, 2), "lora", {"distributed": {"strategy": "ddp"}})
    assert chosen.text.endswith("as you chose")
