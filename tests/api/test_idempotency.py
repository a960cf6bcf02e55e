"""Idempotency-Key: replay on the same request, 422 on a different one, one object however
many concurrent duplicates arrive (against PostgreSQL, with real threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from api.models import IdempotencyKey
from jobs.models import Dataset, Job
from tests.api.helpers import client_for, problem, token_for
from tests.conftest import jsonl_bytes


def post_job(client, key, tiny_model, dataset, **extra):
    body = {"base_model": tiny_model.pk, "dataset": dataset.pk, **extra}
    return client.post("/api/v1/jobs", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_first_response(as_member, tiny_model, dataset):
    first = post_job(as_member, "k-1", tiny_model, dataset)
    second = post_job(as_member, "k-1", tiny_model, dataset)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Job.objects.count() == 1


def test_the_same_key_with_another_body_is_a_422(as_member, tiny_model, dataset):
    post_job(as_member, "k-2", tiny_model, dataset)
    body = problem(post_job(as_member, "k-2", tiny_model, dataset, name="other"), 422)
    assert body["type"] == "urn:hone:problem:idempotency-key-reused"
    assert Job.objects.count() == 1


def test_the_same_key_on_another_endpoint_is_a_422(as_member, tiny_model, dataset):
    post_job(as_member, "k-3", tiny_model, dataset)
    response = as_member.post("/api/v1/models", {"hub_id": "gpt2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    problem(response, 422)


def test_keys_belong_to_one_token(member, team, tiny_model, dataset):
    post_job(client_for(member, team), "shared", tiny_model, dataset)
    assert post_job(client_for(member, team), "shared", tiny_model, dataset).status_code == 201
    assert Job.objects.count() == 2


def test_a_refused_request_is_not_remembered(as_member, tiny_model, dataset):
    problem(post_job(as_member, "k-4", tiny_model, dataset, params={"lora": {"r": 0}}), 400)
    assert not IdempotencyKey.objects.exists()
    assert post_job(as_member, "k-4", tiny_model, dataset).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_a_bad_key_is_a_400(as_member, tiny_model, dataset, key):
    problem(post_job(as_member, key, tiny_model, dataset), 400)


def test_uploads_compare_by_content_not_by_multipart_boundary(as_member, demo_rows):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def upload(rows):
        data = {"file": SimpleUploadedFile("d.jsonl", jsonl_bytes(rows)), "name": "d"}
        return as_member.post("/api/v1/datasets", data, format="multipart", HTTP_IDEMPOTENCY_KEY="up")

    assert upload(demo_rows).status_code == 201
    assert upload(demo_rows)["Idempotent-Replayed"] == "true"
    problem(upload(demo_rows[:50]), 422)
    assert Dataset.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_job(member, team, tiny_model, dataset):
    token = token_for(member, team)
    results, start = [], threading.Barrier(6)

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            start.wait()
            response = post_job(client, "race", tiny_model, dataset)
            results.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()  # each thread had its own database connection

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6
    assert {status for status, _ in results} == {201}
    assert len({job_id for _, job_id in results}) == 1
    assert Job.objects.count() == 1


# --- secrets and deleted objects (issue 23, item 3) ---------------------------------------


def _post_webhook(client, key):
    return client.post(
        "/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_a_webhook_secret_never_sits_in_the_idempotency_table(as_owner, settings):
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    first = _post_webhook(as_owner, "hook-1")
    secret = first.json()["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM api_idempotencykey t WHERE t::text LIKE %s", [f"%{secret[6:]}%"])
        assert cursor.fetchone()[0] == 0
    replay = _post_webhook(as_owner, "hook-1")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()  # the secret derived again, not stored


def test_a_key_whose_object_was_deleted_replays_nothing(as_owner, settings, demo_rows):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    hook = _post_webhook(as_owner, "hook-2").json()
    assert as_owner.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    body = problem(_post_webhook(as_owner, "hook-2"), 409)
    assert body["type"] == "urn:hone:problem:idempotency-target-gone" and "whsec_" not in str(body)

    def upload():
        data = {"file": SimpleUploadedFile("d.jsonl", jsonl_bytes(demo_rows)), "name": "d"}
        return as_owner.post("/api/v1/datasets", data, format="multipart", HTTP_IDEMPOTENCY_KEY="data-1")

    made = upload().json()
    assert as_owner.delete(f"/api/v1/datasets/{made['id']}").status_code == 204
    problem(upload(), 409)
    assert not Dataset.objects.exists()
