"""/api/v1/jobs: create (parameters checked by the trainer's own models), list with filters and
cursor pagination, detail, cancel, retry, clone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, JobTransition
from tests.api.helpers import fields, make_attempt, make_job, problem
from trainers.spec import LoraParams, TrainingParams


def create(client, **body):
    return client.post("/api/v1/jobs", body, format="json")


def test_it_creates_a_queued_job_with_every_parameter_filled_in(as_member, tiny_model, dataset, member):
    response = create(
        as_member,
        base_model=tiny_model.pk,
        dataset=dataset.pk,
        params={"lora": {"r": 4}, "training": {"epochs": 1}},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/jobs/{job.pk}"
    assert (job.status, job.kind, job.method, job.created_by) == ("queued", "train", "lora", member)
    assert job.params == {
        "lora": LoraParams(r=4).model_dump(mode="json"),
        "training": TrainingParams(epochs=1).model_dump(mode="json"),
    }
    assert body["name"] == "tiny-llama on demo"
    assert body["base_model"] == {"id": tiny_model.pk, "name": "tiny-llama"}
    assert body["attempts"] == [] and body["progress"] == 0.0
    assert list(JobTransition.objects.filter(job=job).values_list("status", flat=True)) == ["queued"]


def test_parameter_errors_name_the_field_path(as_member, tiny_model, dataset):
    params = {"lora": {"r": 0, "bogus": 1}, "training": {"learning_rate": -1, "epochs": "many"}, "extra": {}}
    body = problem(create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, params=params), 400)
    errors = fields(body)
    assert "greater than or equal to 1" in errors["params.lora.r"]
    assert "Extra inputs are not permitted" in errors["params.lora.bogus"]
    assert "greater than 0" in errors["params.training.learning_rate"]
    assert "valid number" in errors["params.training.epochs"]
    assert "no parameter group 'extra'" in errors["params.extra"]
    assert body["type"] == "urn:hone:problem:validation"
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"dataset": 1}, "base_model"),
        ({"base_model": "x", "dataset": 1}, "base_model"),
        ({"base_model": 1, "dataset": 1, "kind": "bogus"}, "kind"),
        ({"base_model": 1, "dataset": 1, "kind": ["merge"]}, "kind"),
        ({"base_model": 1, "dataset": 1, "method": "nope"}, "method"),
        ({"base_model": 1, "dataset": 1, "params": [1]}, "params"),
        ({"base_model": 1, "dataset": 1, "params": {"lora": 3}}, "params.lora"),
        ({"base_model": 1, "dataset": 1, "name": "x" * 201}, "name"),
    ],
)
def test_malformed_bodies_are_field_errors(as_member, body, field):
    assert field in fields(problem(create(as_member, **body), 400))


def test_another_teams_dataset_is_refused_like_a_missing_one(as_member, tiny_model, other_dataset):
    errors = fields(problem(create(as_member, base_model=tiny_model.pk, dataset=other_dataset.pk), 400))
    assert errors["dataset"] == f"there is no dataset #{other_dataset.pk} in Acme"


def test_a_dataset_the_method_cannot_learn_from_is_refused(as_member, tiny_model, dataset):
    type(dataset).objects.filter(pk=dataset.pk).update(task="preference")
    errors = fields(problem(create(as_member, base_model=tiny_model.pk, dataset=dataset.pk), 400))
    assert "holds preference data" in errors["dataset"]


def test_a_viewer_cannot_create_jobs(as_viewer, tiny_model, dataset):
    body = problem(create(as_viewer, base_model=tiny_model.pk, dataset=dataset.pk), 403)
    assert "Viewers" in body["detail"]


@pytest.fixture
def jobs(team, member, tiny_model, dataset):
    now = timezone.now()
    made = []
    for i, status in enumerate(["queued", "running", "succeeded", "failed", "cancelled"]):
        job = make_job(team, member, tiny_model, dataset, status=status, name=f"j{i}")
        Job.objects.filter(pk=job.pk).update(created_at=now - timedelta(hours=5 - i))
        job.refresh_from_db()
        made.append(job)
    return made


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [job["id"] for job in response.json()["results"]]


def test_the_list_is_newest_first_and_filters(as_member, jobs, other_job):
    names = {job.pk: job.name for job in jobs}
    assert [names[i] for i in ids(as_member.get("/api/v1/jobs"))] == ["j4", "j3", "j2", "j1", "j0"]
    assert [names[i] for i in ids(as_member.get("/api/v1/jobs?status=active"))] == ["j1", "j0"]
    assert [names[i] for i in ids(as_member.get("/api/v1/jobs?status=failed,succeeded"))] == ["j3", "j2"]
    assert len(ids(as_member.get(f"/api/v1/jobs?dataset={jobs[0].dataset_id}&kind=train"))) == 5
    assert ids(as_member.get(f"/api/v1/jobs?model={jobs[0].base_model_id + 999}")) == []
    after = (jobs[2].created_at - timedelta(minutes=1)).isoformat()
    before = (jobs[3].created_at + timedelta(minutes=1)).isoformat()
    ranged = as_member.get("/api/v1/jobs", {"created_after": after, "created_before": before})
    assert sorted(ids(ranged)) == sorted([jobs[2].pk, jobs[3].pk])


def test_cursor_pagination_walks_every_job_once(as_member, jobs):
    seen, url, pages = [], "/api/v1/jobs?limit=2", 0
    while url:
        page = as_member.get(url).json()
        seen += [job["id"] for job in page["results"]]
        url, pages = page["next"], pages + 1
    assert pages == 3
    assert seen == sorted((job.pk for job in jobs), reverse=True)


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=done", "status"),
        ("cursor=zz", "cursor"),
        ("created_after=yesterday", "created_after"),
        ("dataset=-1", "dataset"),
    ],
)
def test_bad_filters_are_400s(as_member, query, field):
    assert field in fields(problem(as_member.get(f"/api/v1/jobs?{query}"), 400))


def test_the_detail_has_attempts(as_member, job):
    make_attempt(job, 1, status="failed")
    make_attempt(job, 2, status="running")
    body = as_member.get(f"/api/v1/jobs/{job.pk}").json()
    assert [(a["number"], a["status"]) for a in body["attempts"]] == [(1, "failed"), (2, "running")]
    assert body["status"] == "running" and body["dataset"]["name"] == "demo"


def test_cancel_moves_an_active_job_and_is_repeatable(as_member, job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = as_member.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert as_member.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 200


def test_cancelling_a_finished_job_is_a_conflict(as_member, job):
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    body = problem(as_member.post(f"/api/v1/jobs/{job.pk}/cancel"), 409)
    assert "already finished (succeeded)" in body["detail"]


def test_a_viewer_cannot_cancel(as_viewer, job):
    problem(as_viewer.post(f"/api/v1/jobs/{job.pk}/cancel"), 403)
    job.refresh_from_db()
    assert job.status == "running"


def test_retry_makes_a_new_job_with_the_same_inputs(as_member, job, member):
    Job.objects.filter(pk=job.pk).update(status="failed", error="boom")
    response = as_member.post(f"/api/v1/jobs/{job.pk}/retry")
    assert response.status_code == 201
    new = Job.objects.get(pk=response.json()["id"])
    assert new.pk != job.pk and new.status == "queued"
    assert (new.base_model_id, new.dataset_id, new.params, new.name) == (
        job.base_model_id,
        job.dataset_id,
        job.params,
        job.name,
    )
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "boom")  # the original is left as it ended


def test_a_running_or_succeeded_job_cannot_be_retried(as_member, job):
    assert (
        "only failed or cancelled" in problem(as_member.post(f"/api/v1/jobs/{job.pk}/retry"), 409)["detail"]
    )


def test_clone_merges_parameter_changes_into_the_original(as_member, job):
    body = {"name": "faster", "params": {"training": {"learning_rate": 0.001}}}
    response = as_member.post(f"/api/v1/jobs/{job.pk}/clone", body, format="json")
    assert response.status_code == 201, response.content
    new = Job.objects.get(pk=response.json()["id"])
    assert new.name == "faster"
    assert new.params["training"]["learning_rate"] == 0.001
    assert new.params["training"]["epochs"] == job.params["training"]["epochs"] == 1
    assert new.params["lora"] == job.params["lora"]


def test_clone_checks_the_merged_parameters(as_member, job):
    body = {"params": {"lora": {"r": 9999}}}
    errors = fields(problem(as_member.post(f"/api/v1/jobs/{job.pk}/clone", body, format="json"), 400))
    assert "params.lora.r" in errors


def test_the_hand_built_representation_matches_the_declared_fields(job):
    from django.utils import timezone
    from rest_framework import serializers as drf

    from api.serializers.jobs import JobDetailSerializer, JobSerializer

    make_attempt(job, 1, status="failed")
    Job.objects.filter(pk=job.pk).update(
        eta_seconds=12.5, started_at=timezone.now(), created_by=None, error="x", step=3, total_steps=7
    )
    job = Job.objects.select_related("base_model", "dataset", "created_by").get(pk=job.pk)
    for serializer_class in (JobSerializer, JobDetailSerializer):
        generic = drf.ModelSerializer.to_representation(serializer_class(), job)
        assert serializer_class(job).data == generic


def test_the_list_reads_rows_yet_says_what_the_detail_says(as_member, jobs):
    from api.serializers.jobs import JobSerializer

    Job.objects.filter(pk=jobs[1].pk).update(step=3, total_steps=4, eta_seconds=9.5, created_by=None)
    for listed in as_member.get("/api/v1/jobs").json()["results"]:
        job = Job.objects.select_related("base_model", "dataset", "created_by").get(pk=listed["id"])
        assert listed == JobSerializer(job).data


def test_the_detail_reads_rows_yet_says_what_the_serializer_says(as_member, job):
    from api.serializers.jobs import JobDetailSerializer

    make_attempt(job, 1, status="failed")
    make_attempt(job, 2, status="running")
    body = as_member.get(f"/api/v1/jobs/{job.pk}").json()
    assert body == JobDetailSerializer(Job.objects.get(pk=job.pk)).data
