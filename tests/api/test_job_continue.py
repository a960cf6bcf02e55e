"""POST /api/v1/jobs/{id}/continue."""

from __future__ import annotations

import pytest

from jobs.lifecycle import specs
from jobs.models import Job, ModelAsset
from tests.api.helpers import fields, make_job, problem


@pytest.fixture
def succeeded(team, member, tiny_model, dataset):
    job = make_job(team, member, tiny_model, dataset, status="succeeded")
    ModelAsset.objects.create(
        team=team, name="job · adapter", source="job", format="adapter", path="/store/job/adapter",
        task="causal-lm", adapter_base=tiny_model, produced_by=job,
    )  # fmt: skip
    return job


def test_it_creates_a_job_that_trains_on_from_the_adapter(as_member, succeeded, tiny_model):
    response = as_member.post(f"/api/v1/jobs/{succeeded.pk}/continue", {"epochs": 2}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    new = Job.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/jobs/{new.pk}"
    assert body["status"] == "queued" and body["base_model"]["id"] == tiny_model.pk
    assert body["params"]["training"]["epochs"] == 2
    assert new.inputs.filter(role="model", model__produced_by=succeeded).exists()
    assert specs.build_spec(new, 1, None)["init_adapter"] == "/store/job/adapter"


def test_a_failed_job_cannot_be_continued(as_member, succeeded):
    Job.objects.filter(pk=succeeded.pk).update(status="failed")
    body = problem(as_member.post(f"/api/v1/jobs/{succeeded.pk}/continue", {}, format="json"), 409)
    assert "no trained result to continue from" in body["detail"]


def test_bad_input_names_its_field(as_member, succeeded, other_dataset):
    url = f"/api/v1/jobs/{succeeded.pk}/continue"
    assert (
        "no dataset"
        in fields(problem(as_member.post(url, {"dataset": other_dataset.pk}, format="json"), 400))["dataset"]
    )
    assert "epochs" in fields(problem(as_member.post(url, {"epochs": 0}, format="json"), 400))
    assert Job.objects.count() == 1


def test_viewers_and_outsiders_cannot_continue(as_viewer, as_outsider, succeeded):
    assert as_viewer.post(f"/api/v1/jobs/{succeeded.pk}/continue", {}, format="json").status_code == 403
    assert as_outsider.post(f"/api/v1/jobs/{succeeded.pk}/continue", {}, format="json").status_code == 404
