"""/api/v1/jobs with an objective: kept in the job's params, checked against the dataset's task and
the objective's own parameters, and passed into the trainer's spec."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data.datasets import create_dataset
from jobs.lifecycle import specs
from jobs.models import Job, ModelAsset
from tests.api.helpers import fields, problem
from tests.conftest import jsonl_bytes


def create(client, **body):
    return client.post("/api/v1/jobs", body, format="json")


@pytest.fixture
def pairs(team, member):
    rows = [{"prompt": f"Say {w}.", "chosen": w, "rejected": w[::-1]} for w in ["yes", "no", "maybe", "ok"]]
    upload = SimpleUploadedFile("pairs.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="pairs", upload=upload)


@pytest.fixture
def encoder(db, tiny_model_dir):
    return ModelAsset.objects.create(
        name="encoder", source="builtin", path=str(tiny_model_dir), task="sequence-classification",
        architecture="BertModel",
    )


def test_a_preference_job_keeps_its_objective_and_parameters(as_member, tiny_model, pairs):
    response = create(as_member, base_model=tiny_model.pk, dataset=pairs.pk, objective="dpo",
                      params={"dpo": {"beta": 0.3}, "training": {"epochs": 1}})
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.objective == "dpo" and "objective" not in job.params
    assert response.json()["objective"] == "dpo" and response.json()["params"]["objective"] == "dpo"
    assert job.params["dpo"] == {"beta": 0.3, "loss_type": "sigmoid", "label_smoothing": 0.0}
    assert response.json()["params"]["objective"] == "dpo"

    spec = specs.build_spec(job, 1, None)
    assert spec["objective"] == "dpo" and spec["dpo"]["beta"] == 0.3 and spec["kto"] is None


def test_an_objective_without_parameters_gets_its_defaults_recorded(as_member, tiny_model, pairs):
    response = create(as_member, base_model=tiny_model.pk, dataset=pairs.pk, objective="simpo")
    assert response.status_code == 201, response.content
    assert Job.objects.get(pk=response.json()["id"]).params["simpo"] == {"beta": 2.0, "simpo_gamma": 0.5}


def test_a_dataset_the_objective_cannot_learn_from_is_refused(as_member, tiny_model, dataset, pairs):
    refused = create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, objective="dpo")
    assert fields(problem(refused, 400))["dataset"] == (
        "demo holds instruction data, but the dpo objective learns from preference data; "
        "pick such a dataset, or objective sft, grpo, rejection_sampling or refusal_aware. "
        "Datasets here that fit: pairs."
    )
    refused = create(as_member, base_model=tiny_model.pk, dataset=pairs.pk, objective="pretrain")
    message = fields(problem(refused, 400))["dataset"]
    assert "pairs holds preference data" in message and "objective dpo, orpo, simpo or kto" in message
    assert not Job.objects.exists()


def test_objective_parameters_are_checked_per_field(as_member, tiny_model, pairs):
    body = {"base_model": tiny_model.pk, "dataset": pairs.pk, "objective": "kto"}
    errors = fields(problem(create(as_member, **body, params={"kto": {"beta": 0, "nope": 1}}), 400))
    assert "greater than 0" in errors["params.kto.beta"]
    assert "Extra inputs are not permitted" in errors["params.kto.nope"]
    errors = fields(problem(create(as_member, **body, params={"dpo": {"beta": 0.1}}), 400))
    assert errors["params.dpo"] == "parameters of the dpo objective, but the objective is 'kto'; remove it"
    assert "objective" in fields(problem(create(as_member, **body | {"objective": "rlhf"}), 400))


def test_only_a_classifier_may_start_from_an_encoder(as_member, encoder, dataset, team, member):
    errors = fields(problem(create(as_member, base_model=encoder.pk, dataset=dataset.pk), 400))
    assert "pick a text-generation one, or the classification objective" in errors["base_model"]
    rows = [{"text": f"row {i}", "label": ["a", "b"][i % 2]} for i in range(6)]
    labelled = create_dataset(team=team, user=member, name="labelled",
                              upload=SimpleUploadedFile("l.jsonl", jsonl_bytes(rows)))
    response = create(as_member, base_model=encoder.pk, dataset=labelled.pk, objective="classification")
    assert response.status_code == 201, response.content
    assert Job.objects.get(pk=response.json()["id"]).objective == "classification"


def test_a_clone_keeps_the_objective(as_member, tiny_model, pairs):
    job_id = create(as_member, base_model=tiny_model.pk, dataset=pairs.pk, objective="orpo").json()["id"]
    change = {"params": {"orpo": {"beta": 0.5}}}
    response = as_member.post(f"/api/v1/jobs/{job_id}/clone", change, format="json")
    assert response.status_code == 201, response.content
    copy = Job.objects.get(pk=response.json()["id"])
    assert copy.objective == "orpo" and copy.params["orpo"] == {"beta": 0.5}


@pytest.mark.parametrize("objective", [{"name": "dpo"}, ["dpo"], 3])
def test_an_objective_that_is_not_a_name_is_a_field_error(as_member, tiny_model, pairs, objective):
    response = create(as_member, base_model=tiny_model.pk, dataset=pairs.pk, objective=objective,
                      params={"dpo": {"beta": 0.3}})
    assert "objective" in fields(problem(response, 400)), response.content
    assert not Job.objects.exists()
