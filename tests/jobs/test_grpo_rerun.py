"""Clone and continue of a grpo job, through the one door: the copy or the continuation keeps the
objective, its rewards with their weights and parameters, and its settings, and its spec builds."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data.datasets import create_dataset
from jobs.launch.continuation import continue_training
from jobs.lifecycle import specs
from jobs.models import Job, ModelAsset
from tests.conftest import jsonl_bytes
from tests.jobs.html_form import submitted
from tests.jobs.test_views_job_form import input_tag, post_job
from trainers.tiny import larger_number_rows

REWARDS = [{"name": "multiple_choice", "weight": 1.0, "params": {"options": "ABCDE"}},
           {"name": "format", "weight": 0.2}]  # fmt: skip
GRPO = {"num_generations": 4, "beta": 0.0, "max_completion_length": 16, "rewards": REWARDS}


@pytest.fixture
def quiz(team, member):
    rows = [{"prompt": f"{r['prompt']} A) {r['answer']} B) none", "answer": "A"}
            for r in larger_number_rows(20)]  # fmt: skip
    upload = SimpleUploadedFile("quiz.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="quiz", upload=upload)


@pytest.fixture
def source(team, member, tiny_model, quiz, django_capture_on_commit_callbacks) -> Job:
    with django_capture_on_commit_callbacks():
        return launch.launch_training(
            team=team, user=member, name="rl", base_model=tiny_model, dataset=quiz, objective="grpo",
            params={"grpo": GRPO, "training": {"learning_rate": 1e-5, "max_seq_length": 128}},
        )  # fmt: skip


def test_the_form_clone_keeps_the_rewards_with_their_parameters(
    client, member, source, django_capture_on_commit_callbacks
):
    client.force_login(member)
    page = client.get(f"/jobs/new/?from={source.pk}").content.decode()
    assert 'value="multiple_choice, format:0.2"' in input_tag(page, "grpo__rewards")
    response = post_job(client, submitted(page), django_capture_on_commit_callbacks)
    assert response.status_code == 302, response.context["form"].errors
    copy = Job.objects.exclude(pk=source.pk).get()
    assert (copy.objective, copy.params) == ("grpo", source.params)  # the options too, not in the form


def test_the_form_clone_with_other_rewards_takes_them(
    client, member, source, django_capture_on_commit_callbacks
):
    client.force_login(member)
    fields = submitted(client.get(f"/jobs/new/?from={source.pk}").content.decode())
    fields["grpo__rewards"] = "contains"
    response = post_job(client, fields, django_capture_on_commit_callbacks)
    assert response.status_code == 302, response.context["form"].errors
    copy = Job.objects.exclude(pk=source.pk).get()
    assert [r["name"] for r in copy.params["grpo"]["rewards"]] == ["contains"]


def test_continuing_a_grpo_job_trains_its_adapter_on_with_the_same_rewards(source, member, tiny_model):
    Job.objects.filter(pk=source.pk).update(status="succeeded")
    source.refresh_from_db()
    adapter = ModelAsset.objects.create(
        team=source.team, name="rl · adapter", source="job", format="adapter", path="/store/rl/adapter",
        task="causal-lm", adapter_base=tiny_model, produced_by=source,
    )  # fmt: skip
    new = continue_training(source, user=member, epochs=2)
    assert (new.objective, new.status, new.base_model) == ("grpo", "queued", tiny_model)
    assert new.params["grpo"] == source.params["grpo"] and new.params["training"]["epochs"] == 2
    assert {(i.role, i.model_id) for i in new.inputs.filter(model__isnull=False)} == {
        ("base", tiny_model.pk), ("model", adapter.pk)
    }  # fmt: skip
    spec = specs.build_spec(new, 1, None)
    assert spec["init_adapter"] == "/store/rl/adapter" and spec["objective"] == "grpo"
    assert spec["grpo"]["rewards"][1] == {"name": "format", "weight": 0.2, "params": source.params["grpo"][
        "rewards"][1]["params"]}  # fmt: skip
