"""A curate job's time estimated before it queues (rows × steps on the profile's device), and a job
that cannot finish within its profile's time limit refused, naming the slow step and what to change."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data.datasets import create_dataset
from jobs.launch import LaunchRefused, LaunchRequest, launch
from jobs.models import ComputeProfile, Job
from tests.conftest import jsonl_bytes
from trainers import estimate
from trainers.curate.estimate import curate_time
from trainers.spec import parse_spec


@pytest.fixture
def long_rows(team, member):
    paragraph = "The river ran past the mill and the miller watched the wheel turn all day long. " * 25
    rows = [{"text": f"{i} {paragraph}"} for i in range(300)]
    upload = SimpleUploadedFile("long.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="long", upload=upload)


@pytest.fixture
def one_minute(db):
    return ComputeProfile.objects.create(name="one-minute", cpu="1", memory="4Gi", max_runtime_seconds=60)


def curate(team, member, dataset, profile, **params):
    request = LaunchRequest.of(
        Job.Kind.CURATE,
        team=team,
        user=member,
        name="tidy",
        params={"budget": {"keep_percent": 30}, **params},
        datasets=[("dataset", dataset)],
        profile=profile,
    )
    return launch(request)


def test_embedding_every_row_on_one_core_past_the_limit_is_refused_naming_diversity(
    team, member, long_rows, one_minute
):
    with pytest.raises(LaunchRefused) as refused:
        curate(team, member, long_rows, one_minute, diversity={})
    (problem,) = refused.value.problems
    assert problem.loc == ("diversity",)
    took = "this curation of 300 rows would take about 3 min (diversity 2 min, datasets 2 s)"
    assert took in problem.message
    assert "longer than the 60 s an attempt may run on the one-minute profile" in problem.message
    assert "turn off the varied selection (diversity), or run on a GPU profile" in problem.message
    assert not Job.objects.exists()


def test_the_same_rows_without_embeddings_or_on_a_gpu_fit_the_limit(team, member, long_rows, one_minute):
    assert curate(team, member, long_rows, one_minute, dedup={}).kind == Job.Kind.CURATE
    gpu = ComputeProfile.objects.create(name="gpu-minute", gpu_type="l4", gpu_count=1, max_runtime_seconds=60)
    assert curate(team, member, long_rows, gpu, diversity={}).profile == gpu


def test_the_estimate_counts_each_step_from_rows_tokens_and_the_models_shape(tmp_path, tiny_model_dir):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"instruction": "q{i}", "output": "{"word " * 100}"}}\n' for i in range(1000)))
    ref = {"path": str(path), "sha256": "0" * 64, "format": "jsonl", "task": "instruction"}
    spec = parse_spec(
        {
            "kind": "curate",
            "job_id": 1,
            "attempt": 1,
            "output_dir": "/o",
            "datasets": [ref],
            "dataset_rows": [1000],
            "budget": {"keep_rows": 10},
            "fit": {"max_tokens": 64},
            "tokenizer": {"name": "tiny", "path": str(tiny_model_dir)},
            "labels": None,
            "diversity": {},
        }
    )
    device = estimate.device_for(gpu_type="", gpu_count=0, cpu="2", memory="8Gi")
    found = curate_time(spec, device)
    assert found.rows == 1000 and found.tokens_per_row == pytest.approx(path.stat().st_size / 4 / 1000)
    parts = dict(found.parts)
    assert set(parts) == {"datasets", "diversity", "fit"}
    assert parts["datasets"] == pytest.approx(1000 / 200)
    # fit: rows × min(tokens, max_tokens) × 2 FLOPs per multiplying weight, at 2 cores' rate
    config = estimate.shape_from_config(estimate.read_config(tiny_model_dir))
    weights = (
        config.layers * sum(i * o for _n, i, o in config.block_linears()) + config.vocab_size * config.hidden
    )
    assert parts["fit"] == pytest.approx(1000 * 64 * 2 * weights / device.flops)
    assert found.seconds == pytest.approx(20 + sum(parts.values()))


def test_the_estimate_counts_influence_as_passes_over_every_row_and_the_lora_steps(tmp_path, tiny_model_dir):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"instruction": "q{i}", "output": "{"word " * 100}"}}\n' for i in range(1000)))
    ref = {"path": str(path), "sha256": "0" * 64, "format": "jsonl", "task": "instruction"}
    body = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": "/o",
        "datasets": [ref],
        "target_set": ref,
        "dataset_rows": [1000],
        "budget": {"keep_rows": 10},
        "tokenizer": {"name": "tiny", "path": str(tiny_model_dir)},
    }
    device = estimate.device_for(gpu_type="", gpu_count=0, cpu="2", memory="8Gi")
    config = estimate.shape_from_config(estimate.read_config(tiny_model_dir))
    per_token = 2 * (
        config.layers * sum(i * o for _n, i, o in config.block_linears()) + config.vocab_size * config.hidden
    )
    for method, passes in (("less", 3), ("color_filter", 2)):
        influence = {"method": method, "max_tokens": 64, "train_steps": 10}
        parts = dict(curate_time(parse_spec(body | {"influence": influence}), device).parts)
        assert set(parts) == {"datasets", "influence"}
        assert parts["influence"] == pytest.approx((1000 * passes + 10 * 3) * 64 * per_token / device.flops)
    spec = parse_spec(body | {"target_set": None, "difficulty": None, "diversity": {"features": "tfidf"}})
    parts = dict(curate_time(spec, device).parts)
    assert parts["diversity"] == pytest.approx(1000 / 400)  # no model: TF-IDF, SVD and k-center
