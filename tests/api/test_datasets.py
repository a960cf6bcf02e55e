"""/api/v1/datasets: upload (streamed, size-limited, every row checked), list, get, delete."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data import storage
from jobs.models import Dataset
from tests.api.helpers import fields, make_job, problem
from tests.conftest import jsonl_bytes


def upload(client, content: bytes, filename: str = "train.jsonl", **data):
    return client.post(
        "/api/v1/datasets", {"file": SimpleUploadedFile(filename, content), **data}, format="multipart"
    )


def test_it_stores_a_checked_dataset(as_member, demo_rows, member):
    response = upload(as_member, jsonl_bytes(demo_rows), name="support")
    assert response.status_code == 201, response.content
    body = response.json()
    dataset = Dataset.objects.get(pk=body["id"])
    assert (dataset.name, dataset.row_count, dataset.task, dataset.created_by) == (
        "support",
        120,
        "instruction",
        member,
    )
    assert body["report"]["ok"] is True and body["report"]["row_count"] == 120
    assert response["Location"] == f"/api/v1/datasets/{dataset.pk}"
    assert storage.resolve(dataset.location).is_file()


def test_a_bad_file_is_a_422_naming_each_row(as_member, demo_rows):
    rows = [*demo_rows[:5], {"instruction": "hi"}, *demo_rows[5:8]]
    body = problem(upload(as_member, jsonl_bytes(rows)), 422)
    assert body["type"] == "urn:hone:problem:dataset-rejected"
    assert body["errors"][0]["field"] == "file"
    assert "line 6" in body["errors"][0]["message"] and "output" in body["errors"][0]["message"]
    assert body["report"]["error_count"] == 1
    assert not Dataset.objects.exists()
    assert not list((storage.root() / "tmp").glob("*"))


def test_an_unsupported_file_type_is_a_422(as_member):
    assert "not supported" in problem(upload(as_member, b"hello", "notes.txt"), 422)["detail"]


def test_a_file_over_the_limit_is_a_413_and_leaves_nothing(as_member, settings, demo_rows):
    settings.HONE_MAX_UPLOAD_BYTES = 1000
    body = problem(upload(as_member, jsonl_bytes(demo_rows)), 413)
    assert "limit" in body["detail"]
    assert not Dataset.objects.exists()


def test_a_declared_length_over_the_limit_is_refused_before_reading(as_member, settings):
    settings.HONE_MAX_UPLOAD_BYTES = 10
    response = as_member.generic(
        "POST",
        "/api/v1/datasets",
        b"x" * 10,
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(10**9),
    )
    problem(response, 413)


def test_broken_multipart_is_a_400(as_member):
    response = as_member.generic(
        "POST", "/api/v1/datasets", b"--xyz\r\nnot a part", content_type="multipart/form-data; boundary=xyz"
    )
    assert response.status_code == 400


def test_a_missing_file_is_a_field_error(as_member):
    assert "file" in fields(
        problem(as_member.post("/api/v1/datasets", {"name": "x"}, format="multipart"), 400)
    )


def test_json_is_not_an_upload(as_member):
    problem(as_member.post("/api/v1/datasets", {"name": "x"}, format="json"), 415)


def test_a_viewer_cannot_upload(as_viewer, demo_rows):
    problem(upload(as_viewer, jsonl_bytes(demo_rows)), 403)


def test_list_and_detail(as_member, dataset):
    listed = as_member.get("/api/v1/datasets").json()
    assert [d["id"] for d in listed["results"]] == [dataset.pk]
    assert "report" not in listed["results"][0]
    detail = as_member.get(f"/api/v1/datasets/{dataset.pk}").json()
    assert detail["report"]["preview"] and detail["sha256"] == dataset.sha256
    json.dumps(detail)


def test_an_unused_dataset_is_deleted_with_its_file(as_member, dataset):
    path = storage.resolve(dataset.location)
    assert as_member.delete(f"/api/v1/datasets/{dataset.pk}").status_code == 204
    assert not Dataset.objects.exists() and not path.exists()


def test_a_file_shared_by_two_datasets_stays_until_the_last_goes(as_member, dataset, demo_rows):
    second = upload(as_member, jsonl_bytes(demo_rows)).json()
    assert second["sha256"] == dataset.sha256
    as_member.delete(f"/api/v1/datasets/{dataset.pk}")
    assert storage.resolve(dataset.location).is_file()


def test_a_dataset_a_job_used_is_kept(as_member, dataset, team, member, tiny_model):
    job = make_job(team, member, tiny_model, dataset, status="succeeded")
    body = problem(as_member.delete(f"/api/v1/datasets/{dataset.pk}"), 409)
    assert f"#{job.pk}" in body["detail"]
    assert Dataset.objects.filter(pk=dataset.pk).exists()
