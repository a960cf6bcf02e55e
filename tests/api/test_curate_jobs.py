"""Curate jobs through POST /api/v1/jobs (``kind: "curate"``): queued with their inputs and a spec
the trainer accepts, or refused with a 400 naming the field and nothing created; on success the
curated rows become a dataset of the team with their lineage."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.assets import lineage
from jobs.data import storage
from jobs.data.datasets import create_dataset
from jobs.lifecycle import specs
from jobs.models import Artifact, Dataset, Job
from tests.api.helpers import fields, problem
from tests.conftest import jsonl_bytes
from trainers.curate.run import run_curate
from trainers.events import EventEmitter
from trainers.spec import parse_spec


def create(client, **body):
    return client.post("/api/v1/jobs", {"kind": "curate", **body}, format="json")


@pytest.fixture
def labelled(team, member):
    rows = [{"text": f"review {i}: {'great' if i % 2 else 'awful'} film", "label": i % 2} for i in range(20)]
    upload = SimpleUploadedFile("labelled.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="labelled", upload=upload)


def test_a_curate_job_is_queued_with_its_datasets_eval_set_and_steps(
    as_member, dataset, labelled, tiny_model, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("eval.jsonl", jsonl_bytes([{"instruction": "Q?", "output": "A."}]))
    held_out = create_dataset(team=dataset.team, user=None, name="held out", upload=upload)
    body = {
        "datasets": [dataset.pk],
        "eval_set": held_out.pk,
        "tokenizer_model": tiny_model.pk,
        "params": {
            "budget": {"keep_percent": 30},
            "dedup": {"threshold": 0.9},
            "quality": {"max_tokens": 400},
        },
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = create(as_member, **body)
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.dataset, job.name) == ("curate", dataset, "curate demo")
    roles = [(i.role, i.dataset_id or i.model_id) for i in job.inputs.order_by("role")]
    assert roles == [("base", tiny_model.pk), ("dataset", dataset.pk), ("eval", held_out.pk)]
    spec = specs.build_spec(job, 1, None)
    assert spec["budget"] == {"keep_rows": None, "keep_percent": 30.0}
    assert spec["dedup"]["threshold"] == 0.9 and spec["labels"] is None
    assert spec["eval_set"]["task"] == "instruction" and spec["tokenizer"]["path"] == tiny_model.path
    assert spec["dataset_rows"] == [dataset.row_count]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({}, "params.budget", "Field required"),
        ({"budget": {}}, "params.budget", "exactly one of keep_rows or keep_percent"),
        ({"budget": {"keep_percent": 0}}, "params.budget.keep_percent", "greater than 0"),
        ({"budget": {"keep_rows": 5}, "dedup": {"threshold": 2}}, "params.dedup.threshold", "less than"),
    ],
)
def test_a_bad_budget_or_step_is_refused_at_its_field(as_member, dataset, params, field, words):
    errors = fields(problem(create(as_member, datasets=[dataset.pk], params=params), 400))
    assert words in errors[field]
    assert not Job.objects.exists()


def test_another_teams_dataset_is_refused_naming_its_place(as_member, dataset, other_dataset):
    body = {"datasets": [dataset.pk, other_dataset.pk], "params": {"budget": {"keep_rows": 5}}}
    errors = fields(problem(create(as_member, **body), 400))
    assert errors == {"datasets[1]": f"there is no dataset #{other_dataset.pk} in {dataset.team.name}"}
    assert not Job.objects.exists()


def test_an_eval_set_or_step_of_another_task_type_is_refused(as_member, dataset, labelled):
    body = {"datasets": [dataset.pk], "eval_set": labelled.pk, "params": {"budget": {"keep_rows": 5}}}
    errors = fields(problem(create(as_member, **body), 400))
    assert "labelled holds classification data but the datasets hold instruction" in errors["eval_set"]
    body = {"datasets": [dataset.pk, labelled.pk], "params": {"budget": {"keep_rows": 5}}}
    assert (
        "curate data of one kind together" in fields(problem(create(as_member, **body), 400))["datasets[1]"]
    )
    body = {"datasets": [dataset.pk], "params": {"budget": {"keep_rows": 5}, "labels": {}}}
    assert "classification data" in fields(problem(create(as_member, **body), 400))["params.labels"]
    assert not Job.objects.exists()


def test_a_viewer_cannot_curate(as_viewer, dataset):
    response = create(as_viewer, datasets=[dataset.pk], params={"budget": {"keep_rows": 5}})
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_the_curated_rows_become_a_dataset_with_their_lineage(
    as_member, dataset, django_capture_on_commit_callbacks
):
    body = {"datasets": [dataset.pk], "name": "tidy", "params": {"budget": {"keep_rows": 50}, "dedup": {}}}
    with django_capture_on_commit_callbacks(execute=False):
        job = Job.objects.get(pk=create(as_member, **body).json()["id"])
    events = io.StringIO()
    spec = parse_spec(specs.build_spec(job, 1, None))
    run_curate(spec, EventEmitter(events))  # the trainer, in-process: its artifacts as ingest records them
    for name, kind, path in (("curated", "dataset", "curated.jsonl"), ("scores", "report", "scores.parquet")):
        location = specs.output_dir(job) / path
        Artifact.objects.create(
            job=job,
            name=name,
            kind=kind,
            location=storage.relative(location),
            bytes=location.stat().st_size,
            sha256="0" * 64,
        )
    made = lineage.register_datasets(job)
    assert lineage.register_datasets(job) == made  # once
    curated = Dataset.objects.get(produced_by=job)
    assert (curated.team, curated.task, curated.row_count, curated.name) == (
        dataset.team,
        "instruction",
        50,
        "tidy · curated",
    )
    assert curated.report["lineage"] == {
        "job": job.pk,
        "kind": "curate",
        "from": [{"id": dataset.pk, "name": "demo", "role": "dataset"}],
        "settings": job.params,
    }


def test_the_catalogue_types_the_curate_steps(as_viewer):
    entry = as_viewer.get("/api/v1/methods/curate").json()
    schema = entry["parameters"]
    assert entry["kind"] == "curate" and schema["required"] == ["budget"]
    assert {"budget", "dedup", "quality", "labels", "diversity", "seed"} <= schema["properties"].keys()
    assert "budget required" in schema["description"]


def test_a_curation_longer_than_its_profile_allows_is_refused_at_the_slow_step(as_member, team, member):
    from jobs.models import ComputeProfile

    paragraph = "The river ran past the mill and the miller watched the wheel turn all day long. " * 25
    upload = SimpleUploadedFile("long.jsonl", jsonl_bytes([{"text": f"{i} {paragraph}"} for i in range(300)]))
    long_rows = create_dataset(team=team, user=member, name="long", upload=upload)
    profile = ComputeProfile.objects.create(name="one-minute", cpu="1", memory="4Gi", max_runtime_seconds=60)
    body = {"datasets": [long_rows.pk], "compute_profile": profile.pk}
    body["params"] = {"budget": {"keep_percent": 30}, "diversity": {"method": "cluster_balanced"}}
    errors = fields(problem(create(as_member, **body), 400))
    assert "longer than the 60 s an attempt may run on the one-minute profile" in errors["params.diversity"]
    assert not Job.objects.exists()


@pytest.fixture
def target(team, member):
    rows = [{"instruction": f"What is {i} plus 2?", "output": f"{i + 2}."} for i in range(4)]
    upload = SimpleUploadedFile("target.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="sums", upload=upload)


def test_an_influence_curation_is_queued_with_its_target_set(
    as_member, dataset, target, tiny_model, django_capture_on_commit_callbacks
):
    body = {
        "datasets": [dataset.pk],
        "target_set": target.pk,
        "tokenizer_model": tiny_model.pk,
        "params": {"budget": {"keep_percent": 30}, "influence": {"method": "less", "projection_dims": 256}},
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = create(as_member, **body)
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    roles = sorted((i.role, i.dataset_id or i.model_id) for i in job.inputs.all())
    assert roles == [("base", tiny_model.pk), ("dataset", dataset.pk), ("target", target.pk)]
    spec = parse_spec(specs.build_spec(job, 1, None))
    assert spec.target_set.task == "instruction" and spec.influence.projection_dims == 256
    assert spec.influence.preconditioner == "adam" and spec.tokenizer.path == tiny_model.path


def test_an_influence_step_without_what_it_needs_is_refused_at_the_field(
    as_member, dataset, labelled, target, tiny_model
):
    less = {"budget": {"keep_rows": 5}, "influence": {}}
    cases = [
        ({"target_set": labelled.pk, "tokenizer_model": tiny_model.pk}, less, "target_set",
         "labelled holds classification data but the datasets hold instruction"),
        ({"tokenizer_model": tiny_model.pk}, less, "target_set", "required: a few rows like those"),
        ({"target_set": target.pk}, less, "tokenizer_model", "required: the language model"),
        ({"target_set": target.pk, "tokenizer_model": tiny_model.pk}, less | {"diversity": {}},
         "params.influence", "choose it or diversity"),
        ({"target_set": target.pk}, {"budget": {"keep_rows": 5}}, "target_set", "only the influence step"),
        ({}, {"budget": {"keep_rows": 5}, "influence": {"preconditioner": "adam", "train_steps": 0}},
         "params.influence", "give train_steps ≥ 1"),
    ]
    for inputs, params, field, words in cases:
        errors = fields(problem(create(as_member, datasets=[dataset.pk], params=params, **inputs), 400))
        assert words in errors[field], (field, errors)
    assert not Job.objects.exists()


def test_another_teams_target_set_is_refused(as_member, dataset, other_dataset, tiny_model):
    body = {"datasets": [dataset.pk], "target_set": other_dataset.pk, "tokenizer_model": tiny_model.pk}
    params = {"budget": {"keep_rows": 5}, "influence": {}}
    errors = fields(problem(create(as_member, params=params, **body), 400))
    assert errors == {"target_set": f"there is no dataset #{other_dataset.pk} in {dataset.team.name}"}
    assert not Job.objects.exists()


def test_the_catalogue_types_the_selection_steps(as_viewer):
    schema = as_viewer.get("/api/v1/methods/curate").json()["parameters"]
    assert {"difficulty", "influence"} <= schema["properties"].keys()
    text = str(schema)
    assert "less" in text and "color_filter" in text and "tfidf" in text
