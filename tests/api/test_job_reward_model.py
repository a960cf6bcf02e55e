"""A reward model from a Hone classifier through /api/v1/jobs: chosen by id in ``params.grpo.rewards``
(and rejection_sampling's), checked at launch in the team's scope, recorded as the job's
``reward_model`` input, and handed to the trainer as a directory from that input only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.launch import launch, rerun_request
from jobs.lifecycle import specs
from jobs.models import Job, JobInput, ModelAsset
from tests.api.helpers import fields, problem
from tests.api.test_job_grpo import _dataset, create
from trainers.tiny import larger_number_rows


def _classifier_dir(tiny_model_dir: Path, where: Path) -> Path:
    """What the launch reads of a saved classifier: its config.json (architecture and labels)."""
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config |= {"architectures": ["LlamaForSequenceClassification"], "id2label": {"0": "high", "1": "low"},
               "label2id": {"high": 0, "low": 1}}  # fmt: skip
    where.mkdir(parents=True)
    (where / "config.json").write_text(json.dumps(config))
    return where


def _classifier(team, tiny_model_dir: Path, where: Path, name: str = "likes-high") -> ModelAsset:
    return ModelAsset.objects.create(
        team=team, name=name, source=ModelAsset.Source.JOB, task=ModelAsset.Task.CLASSIFICATION,
        path=str(_classifier_dir(tiny_model_dir, where)), architecture="LlamaForSequenceClassification",
    )  # fmt: skip


@pytest.fixture
def sums(team, member):
    return _dataset(team, member, "sums", larger_number_rows(30))


def _body(tiny_model, sums, model_id, label="high", objective="grpo") -> dict:
    reward = {"name": "classifier", "params": {"model": model_id, "label": label}}
    return {"base_model": tiny_model.pk, "dataset": sums.pk, "objective": objective,
            "params": {objective: {"rewards": [reward]}}}  # fmt: skip


def test_a_classifier_reward_is_the_jobs_reward_model_input_and_its_directory_in_the_spec(
    as_member, tiny_model, sums, team, tiny_model_dir, tmp_path
):
    judge = _classifier(team, tiny_model_dir, tmp_path / "judge")
    response = create(as_member, **_body(tiny_model, sums, judge.pk))
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert [i.model for i in job.inputs.filter(role=JobInput.Role.REWARD_MODEL)] == [judge]
    assert job.params["grpo"]["rewards"] == [
        {
            "name": "classifier",
            "weight": 1.0,
            "params": {"model": judge.pk, "label": "high", "reads": "completion"},
        }
    ]
    spec = specs.build_spec(job, 1, None)
    assert spec["reward_models"] == {str(judge.pk): judge.path}
    again = launch(rerun_request(job, user=job.created_by))  # a retry: the same input, once
    assert [i.model for i in again.inputs.filter(role=JobInput.Role.REWARD_MODEL)] == [judge]


def test_rejection_sampling_takes_a_classifier_reward_too(as_member, tiny_model, sums, team, tiny_model_dir,
                                                          tmp_path):  # fmt: skip
    judge = _classifier(team, tiny_model_dir, tmp_path / "judge")
    response = create(as_member, **_body(tiny_model, sums, judge.pk, objective="rejection_sampling"))
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.inputs.filter(role=JobInput.Role.REWARD_MODEL, model=judge).exists()


def test_another_teams_classifier_is_not_found(as_member, tiny_model, sums, other_team, tiny_model_dir,
                                               tmp_path):  # fmt: skip
    theirs = _classifier(other_team, tiny_model_dir, tmp_path / "theirs")
    errors = fields(problem(create(as_member, **_body(tiny_model, sums, theirs.pk)), 400))
    assert errors["params.grpo.rewards.0.params.model"] == f"model {theirs.pk} not found"
    missing = fields(problem(create(as_member, **_body(tiny_model, sums, 99_999)), 400))
    assert missing["params.grpo.rewards.0.params.model"] == "model 99999 not found"  # the same words
    assert not Job.objects.exists()


def test_a_text_generation_model_is_not_a_classifier(as_member, tiny_model, sums):
    errors = fields(problem(create(as_member, **_body(tiny_model, sums, tiny_model.pk)), 400))
    assert errors["params.grpo.rewards.0.params.model"].startswith(
        "tiny-llama is a text-generation model, not a classifier"
    )
    assert not Job.objects.exists()


def test_a_label_the_classifier_does_not_know_is_refused_at_the_label(
    as_member, tiny_model, sums, team, tiny_model_dir, tmp_path
):
    judge = _classifier(team, tiny_model_dir, tmp_path / "judge")
    errors = fields(problem(create(as_member, **_body(tiny_model, sums, judge.pk, label="good")), 400))
    assert errors["params.grpo.rewards.0.params.label"] == (
        "label 'good' is not one of likes-high's labels: high, low"
    )
    assert not Job.objects.exists()


def test_a_request_cannot_name_the_classifiers_directory(as_member, tiny_model, sums, team, tiny_model_dir,
                                                         tmp_path):  # fmt: skip
    judge = _classifier(team, tiny_model_dir, tmp_path / "judge")
    body = _body(tiny_model, sums, judge.pk)
    body["params"]["grpo"]["rewards"][0]["params"]["path"] = "/elsewhere"
    errors = fields(problem(create(as_member, **body), 400))
    assert "path: Extra inputs are not permitted" in errors["params.grpo.rewards.0.params"]
    body = _body(tiny_model, sums, judge.pk) | {"reward_models": {str(judge.pk): "/elsewhere"}}
    body["params"]["reward_models"] = {str(judge.pk): "/elsewhere"}
    assert create(as_member, **body).status_code == 400
    assert not Job.objects.exists()
