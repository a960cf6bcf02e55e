"""/api/v1/jobs with objective grpo: rewards and their parameters checked per field, and the rows a
chosen reward cannot score or whose prompt leaves no room for the answer refused before the job
exists, naming the row and the field (the same checks as the job form, through jobs.launch)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data.datasets import create_dataset
from jobs.lifecycle import specs
from jobs.models import Job
from tests.api.helpers import fields, problem
from tests.conftest import jsonl_bytes
from trainers.tiny import larger_number_rows


def create(client, **body):
    return client.post("/api/v1/jobs", body, format="json")


def _dataset(team, member, name: str, rows: list[dict]):
    return create_dataset(team=team, user=member, name=name, upload=SimpleUploadedFile(f"{name}.jsonl",
                                                                                         jsonl_bytes(rows)))


@pytest.fixture
def sums(team, member):
    return _dataset(team, member, "sums", larger_number_rows(30))


def test_a_grpo_job_keeps_its_rewards_with_their_defaults(as_member, tiny_model, sums):
    body = {"base_model": tiny_model.pk, "dataset": sums.pk, "objective": "grpo", "params": {
        "grpo": {"num_generations": 4, "rewards": ["math", {"name": "length_penalty", "weight": 0.1}]}}}
    response = create(as_member, **body)
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.params["grpo"]["rewards"] == [
        {"name": "math", "weight": 1.0, "params": {"float_rounding": 6}},
        {"name": "length_penalty", "weight": 0.1, "params": {"max_words": 100}},
    ]
    assert job.params["grpo"]["beta"] == 0.04
    spec = specs.build_spec(job, 1, None)
    assert spec["objective"] == "grpo" and spec["grpo"]["num_generations"] == 4


def test_rewards_are_checked_at_their_field(as_member, tiny_model, sums):
    body = {"base_model": tiny_model.pk, "dataset": sums.pk, "objective": "grpo"}
    errors = fields(problem(create(as_member, **body, params={"grpo": {"rewards": ["bleu"]}}), 400))
    assert "unknown reward 'bleu'; known rewards: exact_match, math" in errors["params.grpo.rewards.0.name"]
    schema_less = {"grpo": {"rewards": [{"name": "json_schema"}]}}
    errors = fields(problem(create(as_member, **body, params=schema_less), 400))
    assert errors["params.grpo.rewards.0.params"] == "schema: Field required"
    errors = fields(problem(create(as_member, **body, params={"grpo": {"num_generations": 1}}), 400))
    assert "greater than or equal to 2" in errors["params.grpo.num_generations"]
    assert not Job.objects.exists()


def test_a_reward_that_cannot_score_the_answers_is_refused_naming_the_row(
    as_member, tiny_model, team, member
):
    rows = larger_number_rows(5) + [{"prompt": "Name a colour.", "answer": "blue"}]
    colours = _dataset(team, member, "colours", rows)
    body = {"base_model": tiny_model.pk, "dataset": colours.pk, "objective": "grpo",
            "params": {"grpo": {"rewards": ["exact_match", "math"]}}}
    errors = fields(problem(create(as_member, **body), 400))
    assert errors["params.grpo.rewards.1"] == (
        "colours, line 6, field 'answer': math cannot score this row: the answer 'blue' is not a number or a "
        "mathematical expression"
    )
    assert not Job.objects.exists()


def test_a_prompt_longer_than_the_budget_allows_is_refused(as_member, tiny_model, team, member):
    long = _dataset(team, member, "long", larger_number_rows(3) + [{"prompt": "seven " * 60, "answer": "7"}])
    body = {"base_model": tiny_model.pk, "dataset": long.pk, "objective": "grpo",
            "params": {"training": {"max_seq_length": 64}, "grpo": {"max_completion_length": 16}}}
    message = fields(problem(create(as_member, **body), 400))["dataset"]
    assert message.startswith("long, line 4, field 'prompt': the prompt is ")
    assert "with grpo.max_completion_length 16 that is more than training.max_seq_length 64" in message
    assert not Job.objects.exists()
    body["objective"] = "refusal_aware"  # the message names the group the user set
    body["params"] = {"training": {"max_seq_length": 64}, "refusal_aware": {"max_completion_length": 16}}
    message = fields(problem(create(as_member, **body), 400))["dataset"]
    assert "with refusal_aware.max_completion_length 16 that is more than" in message
    assert not Job.objects.exists()


def test_data_grpo_cannot_learn_from_is_refused(as_member, tiny_model, team, member):
    pairs = _dataset(team, member, "pairs", [{"prompt": "a", "chosen": "b", "rejected": "c"}] * 3)
    message = fields(problem(create(as_member, base_model=tiny_model.pk, dataset=pairs.pk, objective="grpo"),
                             400))["dataset"]  # fmt: skip
    assert "the grpo objective learns from instruction or chat data" in message


def test_rejection_sampling_is_checked_against_its_rewards_too(as_member, tiny_model, team, member):
    colours = _dataset(team, member, "colours", [{"prompt": "Name a colour.", "answer": "blue"}] * 2)
    body = {"base_model": tiny_model.pk, "dataset": colours.pk, "objective": "rejection_sampling",
            "params": {"rejection_sampling": {"rewards": ["math"], "keep_per_prompt": 2}}}
    errors = fields(problem(create(as_member, **body), 400))
    assert "field 'answer': math cannot score this row" in errors["params.rejection_sampling.rewards.0"]
    body["params"]["rejection_sampling"] = {"keep_per_prompt": 8, "max_samples": 4}
    errors = fields(problem(create(as_member, **body), 400))
    assert "4 samples cannot give 8 verified answers" in errors["params.rejection_sampling"]
    assert not Job.objects.exists()


def test_a_refusal_aware_job_keeps_its_refusal_and_is_checked_against_its_rewards(
    as_member, tiny_model, sums, team, member
):
    body = {"base_model": tiny_model.pk, "dataset": sums.pk, "objective": "refusal_aware",
            "params": {"refusal_aware": {"refusal": "  I don't know.  "}}}  # fmt: skip
    response = create(as_member, **body)
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    exact = {"name": "exact_match", "weight": 1.0, "params": {"case_sensitive": False}}
    assert job.params["refusal_aware"] == {"rewards": [exact], "refusal": "I don't know.",
                                           "max_completion_length": 64}  # fmt: skip
    colours = _dataset(team, member, "colours", [{"prompt": "Name a colour.", "answer": "blue"}] * 2)
    body = {"base_model": tiny_model.pk, "dataset": colours.pk, "objective": "refusal_aware",
            "params": {"refusal_aware": {"rewards": ["math"]}}}  # fmt: skip
    errors = fields(problem(create(as_member, **body), 400))
    assert "field 'answer': math cannot score this row" in errors["params.refusal_aware.rewards.0"]
    assert Job.objects.count() == 1


def test_the_api_clone_of_a_grpo_job_keeps_its_rewards_and_changes_what_it_is_told(
    as_member, tiny_model, sums
):
    rewards = [{"name": "contains", "weight": 1.0, "params": {"case_sensitive": False}},
               {"name": "format", "weight": 0.2}]  # fmt: skip
    body = {"base_model": tiny_model.pk, "dataset": sums.pk, "objective": "grpo",
            "params": {"grpo": {"num_generations": 4, "rewards": rewards}}}  # fmt: skip
    source = Job.objects.get(pk=create(as_member, **body).json()["id"])
    change = {"params": {"grpo": {"num_generations": 8}}}
    response = as_member.post(f"/api/v1/jobs/{source.pk}/clone", change, format="json")
    assert response.status_code == 201, response.content
    copy = Job.objects.get(pk=response.json()["id"])
    assert copy.objective == "grpo" and copy.params["grpo"]["num_generations"] == 8
    assert copy.params["grpo"]["rewards"] == source.params["grpo"]["rewards"]
    assert specs.build_spec(copy, 1, None)["grpo"]["rewards"][0]["params"] == {"case_sensitive": False}
