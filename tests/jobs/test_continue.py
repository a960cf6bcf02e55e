"""Continue training: a new job whose lineage starts from a succeeded job's adapter."""

from __future__ import annotations

import pytest

from jobs.launch.continuation import ContinueRefused, continue_training
from jobs.lifecycle import specs
from jobs.models import Dataset, Job, ModelAsset
from trainers.spec import TrainingParams


@pytest.fixture
def first(team, member, tiny_model, dataset):
    job = Job.objects.create(
        team=team, created_by=member, name="run", base_model=tiny_model, dataset=dataset,
        status="succeeded", params={"lora": {"r": 4}, "training": {"epochs": 1, "learning_rate": 1e-3}},
    )  # fmt: skip
    ModelAsset.objects.create(
        team=team, name="run · adapter", source="job", format="adapter", path="/store/run/adapter",
        task="causal-lm", adapter_base=tiny_model, produced_by=job,
    )  # fmt: skip
    return job


@pytest.fixture
def classification_data(team, member):
    return Dataset.objects.create(
        team=team, name="labels", filename="l.jsonl", location="x", sha256="0" * 64, bytes=1,
        format="jsonl", task="classification", row_count=10,
    )  # fmt: skip


def test_it_creates_a_job_that_starts_from_the_first_jobs_adapter(first, member, tiny_model, dataset):
    new = continue_training(first, user=member, epochs=2)
    adapter = ModelAsset.objects.get(produced_by=first)
    inputs = {(i.role, i.model_id or i.dataset_id) for i in new.inputs.all()}
    assert inputs == {("base", tiny_model.pk), ("model", adapter.pk), ("dataset", dataset.pk)}
    assert (new.status, new.name, new.method, new.base_model) == (
        "queued",
        "run (continued)",
        "lora",
        tiny_model,
    )
    # kept as the trainer reads them: the first job's settings, more epochs, defaults filled in
    assert new.params["training"] == TrainingParams(epochs=2, learning_rate=1e-3).model_dump(mode="json")
    spec = specs.build_spec(new, 1, None)
    assert spec["init_adapter"] == "/store/run/adapter"
    assert spec["training"]["epochs"] == 2 and spec["lora"]["r"] == 4
    first.refresh_from_db()
    assert first.params["training"]["epochs"] == 1  # the first job is left as it was
    assert specs.build_spec(first, 1, None)["init_adapter"] is None


def test_a_full_model_result_becomes_the_base(first, member):
    ModelAsset.objects.filter(produced_by=first).update(format="transformers", adapter_base=None)
    new = continue_training(first, user=member)
    assert new.base_model.produced_by_id == first.pk
    assert specs.build_spec(new, 1, None)["init_adapter"] is None


@pytest.mark.parametrize("status", ["failed", "running"])
def test_only_a_succeeded_job_can_be_continued(first, member, status):
    Job.objects.filter(pk=first.pk).update(status=status)
    first.refresh_from_db()
    with pytest.raises(ContinueRefused, match=f"is a train job that is {status}"):
        continue_training(first, user=member)


def test_another_dataset_must_hold_the_same_task(first, member, classification_data):
    with pytest.raises(ContinueRefused, match="dataset: labels holds classification rows"):
        continue_training(first, user=member, dataset=classification_data)
    assert Job.objects.count() == 1


def test_bad_epochs_are_refused_and_nothing_is_queued(first, member):
    with pytest.raises(ContinueRefused, match="training.epochs"):
        continue_training(first, user=member, epochs=1000)
    assert Job.objects.count() == 1


def test_the_page_continues_training_in_one_form(client, member, first, django_capture_on_commit_callbacks):
    client.force_login(member)
    page = client.get(f"/jobs/{first.pk}/continue/").content.decode()
    assert "run · adapter" in page and 'name="epochs"' in page
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/jobs/{first.pk}/continue/", {"epochs": "3", "name": "longer"})
    new = Job.objects.get(name="longer")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{new.pk}/"
    assert new.params["training"]["epochs"] == 3.0
    assert new.inputs.filter(role="model", model__produced_by=first).exists()
    lineage = client.get(f"/jobs/{new.pk}/").content.decode()
    assert f'from <a href="/jobs/{first.pk}/">job #{first.pk}</a>' in lineage


def test_the_page_shows_a_dataset_error_next_to_the_field(client, member, first, classification_data):
    client.force_login(member)
    response = client.post(f"/jobs/{first.pk}/continue/", {"dataset": classification_data.pk})
    assert response.status_code == 200  # another task's dataset is not even a choice
    assert "Select a valid choice" in response.content.decode()


def test_viewers_and_outsiders_cannot_continue(client, viewer, outsider, first):
    client.force_login(viewer)
    assert client.post(f"/jobs/{first.pk}/continue/", {"epochs": "1"}).status_code == 403
    client.force_login(outsider)
    assert client.get(f"/jobs/{first.pk}/continue/").status_code == 404
    assert Job.objects.count() == 1


def test_a_job_without_a_result_sends_you_back(client, member, first):
    Job.objects.filter(pk=first.pk).update(status="failed")
    client.force_login(member)
    response = client.get(f"/jobs/{first.pk}/continue/")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{first.pk}/"
