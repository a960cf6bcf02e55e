"""Creating merge, quantize and evaluate jobs: inputs recorded, specs validated up front."""

from __future__ import annotations

import pytest

from jobs import launch
from jobs.launch import LaunchRefused
from jobs.lifecycle import specs
from jobs.models import Job, ModelAsset


@pytest.fixture
def adapter(team, tiny_model):
    return ModelAsset.objects.create(
        team=team,
        name="run · adapter",
        source="job",
        format="adapter",
        path="/store/adapter",
        task="causal-lm",
        adapter_base=tiny_model,
    )


def create(kind, team, member, models, params, datasets=(), capture=None):
    with capture():
        return launch.launch_job(
            kind, team=team, user=member, name=kind, params=params, models=models, datasets=list(datasets)
        )


def test_a_quantize_job_is_queued_with_its_inputs(
    team, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    params = {
        "method": "gptq_int4",
        "params": {"group_size": 32, "symmetric": True, "calibration_samples": 4, "calibration_seq_len": 64},
        "outputs": ["gguf_q4_0"],
    }
    job = create(
        "quantize",
        team,
        member,
        [("base", tiny_model, None)],
        params,
        [("calibration", dataset)],
        django_capture_on_commit_callbacks,
    )
    assert (job.kind, job.status, job.method, job.base_model) == (
        "quantize",
        "queued",
        "gptq_int4",
        tiny_model,
    )
    spec = specs.build_spec(job, 1, None)
    assert spec["model"]["path"] == tiny_model.path
    assert spec["calibration"]["sha256"] == dataset.sha256
    assert spec["gptq_int4"]["group_size"] == 32
    assert list(job.transitions.values_list("status", flat=True)) == ["queued"]


def test_a_bad_quantize_combination_is_refused_and_nothing_is_stored(
    team, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    params = {"method": "rtn_int8", "outputs": ["torchao"]}
    with pytest.raises(LaunchRefused, match="calibration"):
        create(
            "quantize",
            team,
            member,
            [("base", tiny_model, None)],
            params,
            [("calibration", dataset)],
            django_capture_on_commit_callbacks,
        )
    assert not Job.objects.exists()


def test_an_evaluate_job_reads_an_adapter_on_its_base(
    team, member, tiny_model, adapter, django_capture_on_commit_callbacks
):
    job = create(
        "evaluate",
        team,
        member,
        [("base", tiny_model, None), ("candidate", adapter, None)],
        {"max_new_tokens": 16},
        capture=django_capture_on_commit_callbacks,
    )
    spec = specs.build_spec(job, 1, None)
    assert spec["base"]["model"]["path"] == tiny_model.path and spec["base"]["adapter_path"] is None
    assert spec["candidate"] == {
        "model": spec["base"]["model"],
        "adapter_path": "/store/adapter",
        "gguf_file": None,
    }
    assert spec["max_new_tokens"] == 16


def test_another_teams_model_or_dataset_is_refused(
    team, member, other_team, tiny_model, django_capture_on_commit_callbacks
):
    foreign = ModelAsset.objects.create(
        team=other_team, name="x", source="local", path="/x", task="causal-lm"
    )
    with pytest.raises(LaunchRefused, match="not available"):
        create(
            "evaluate",
            team,
            member,
            [("base", tiny_model, None), ("candidate", foreign, None)],
            {},
            capture=django_capture_on_commit_callbacks,
        )
