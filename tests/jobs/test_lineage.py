"""Lineage: a job's inputs are recorded, and its model outputs become the team's models."""

from __future__ import annotations

import struct

import pytest

from jobs import launch
from jobs.assets import lineage
from jobs.assets.modelinfo import ModelDirError, safetensors_parameter_count
from jobs.models import Artifact, Job, JobInput, ModelAsset

PARAMS = {"lora": {"r": 4}, "training": {"epochs": 1}}


@pytest.fixture
def job(team, member, tiny_model, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        return launch.launch_training(
            team=team, user=member, name="run", base_model=tiny_model, dataset=dataset, params=PARAMS
        )


def test_a_training_job_records_its_base_model_and_dataset(job, tiny_model, dataset):
    inputs = {(i.role, i.model_id, i.dataset_id) for i in JobInput.objects.filter(job=job)}
    assert inputs == {("base", tiny_model.pk, None), ("dataset", None, dataset.pk)}


def test_an_adapter_output_becomes_a_model_of_the_team(job, tiny_model, _storage, tiny_model_dir):
    adapter = _storage / "runs" / f"job-{job.pk}" / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes((tiny_model_dir / "model.safetensors").read_bytes())
    Artifact.objects.create(
        job=job,
        name="adapter",
        kind="adapter",
        location=str(adapter.relative_to(_storage)),
        bytes=1,
        sha256="0" * 64,
    )
    [asset] = lineage.register_outputs(job)
    assert (asset.team, asset.source, asset.format, asset.adapter_base) == (
        job.team,
        "job",
        "adapter",
        tiny_model,
    )
    assert asset.produced_by == job and asset.parameter_count > 0
    assert lineage.register_outputs(job) == [asset]  # a second call adds nothing
    assert list(lineage.outputs_of(job)) == [asset]
    assert list(ModelAsset.objects.visible_to(job.team).filter(pk=asset.pk)) == [asset]


def test_a_classifier_trained_from_a_decoder_is_registered_as_a_classifier(
    job, tiny_model, _storage, tiny_model_dir
):
    job.objective = "classification"
    job.save(update_fields=["objective"])
    model_dir = _storage / "runs" / f"job-{job.pk}" / "output" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "model.safetensors").write_bytes((tiny_model_dir / "model.safetensors").read_bytes())
    Artifact.objects.create(
        job=job, name="model", kind="model", location=str(model_dir.relative_to(_storage)), bytes=1,
        sha256="0" * 64,
    )
    [asset] = lineage.register_outputs(job)
    assert tiny_model.task == "causal-lm"
    assert asset.task == ModelAsset.Task.CLASSIFICATION


def test_another_teams_outputs_are_not_visible(job, other_team, _storage):
    asset = ModelAsset.objects.create(team=job.team, name="x", source="job", path="/x", task="causal-lm")
    assert not ModelAsset.objects.visible_to(other_team).filter(pk=asset.pk).exists()


def test_jobs_using_a_model_include_merge_inputs(job, tiny_model):
    merge = Job.objects.create(team=job.team, name="m", kind="merge")
    JobInput.objects.create(job=merge, role="model", model=tiny_model, weight=0.5)
    assert set(lineage.jobs_using(tiny_model)) == {job, merge}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"short",
        struct.pack("<Q", 10**12) + b"{}",
        struct.pack("<Q", 2) + b"[]",
        struct.pack("<Q", 4) + b"{{{{",
    ],
)
def test_a_broken_safetensors_file_is_a_clear_error_not_a_crash(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelDirError, match="model.safetensors"):
        safetensors_parameter_count(path)


def test_the_answers_a_rejection_sampling_job_kept_become_a_dataset_made_by_it(job, dataset, _storage):
    from jobs.models import Dataset
    from trainers.objectives.rejection_sampling import write_kept

    job.objective = "rejection_sampling"
    job.save(update_fields=["objective"])
    rows = [
        {"messages": [{"role": "user", "content": f"Which is larger: {a} or {b}?"},
                      {"role": "assistant", "content": str(max(a, b))}]}
        for a, b in ((3, 8), (9, 2), (4, 5))
    ]  # fmt: skip
    kept = write_kept(_storage / "runs" / f"job-{job.pk}" / "output", rows)  # as the trainer writes it
    Artifact.objects.create(
        job=job, name="kept", kind="dataset", location=str(kept.relative_to(_storage)), bytes=1,
        sha256="0" * 64,
    )  # fmt: skip
    lineage.register_outputs(job)
    made = Dataset.objects.get(produced_by=job)
    assert (made.team, made.name, made.row_count) == (job.team, "run · kept rows", 3)
    assert made.report["lineage"]["from"] == [{"id": dataset.pk, "name": dataset.name, "role": "dataset"}]
    lineage.register_outputs(job)
    assert Dataset.objects.filter(produced_by=job).count() == 1  # once


def test_a_refusal_aware_jobs_rows_become_a_dataset_made_by_it(job, dataset, _storage):
    from jobs.models import Dataset
    from trainers.objectives.grpo_data import Task
    from trainers.objectives.refusal_aware import ARTIFACT, judge
    from trainers.objectives.refusal_params import RefusalParams
    from trainers.objectives.rejection_sampling import write_kept

    job.objective = "refusal_aware"
    job.save(update_fields=["objective"])
    tasks = [Task([{"role": "user", "content": f"Which is larger: {a} or {b}?"}], str(max(a, b)))
             for a, b in ((3, 8), (9, 2), (4, 5))]  # fmt: skip
    judged = judge(tasks, ["8", "2", "5"], RefusalParams())  # the second one is wrong
    path = write_kept(_storage / "runs" / f"job-{job.pk}" / "output", judged.rows, f"{ARTIFACT}.jsonl")
    Artifact.objects.create(job=job, name=ARTIFACT, kind="dataset", location=str(path.relative_to(_storage)),
                            bytes=1, sha256="0" * 64)  # fmt: skip
    lineage.register_outputs(job)
    made = Dataset.objects.get(produced_by=job)
    assert (made.team, made.name, made.row_count) == (job.team, "run · refusal-aware rows", 3)
    assert made.task == "chat"
    assert made.report["lineage"]["job"] == job.pk
    assert made.report["lineage"]["from"] == [{"id": dataset.pk, "name": dataset.name, "role": "dataset"}]
