"""Hostile JSON bodies on the API (issue 23, items 6, 7, 10, 11): deep nesting, lone surrogates
and NUL characters, numbers past every bound. Each is a 4xx naming the path of the offending
value, never a 500, and creates nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import FakePayload, encode_multipart

from api.models import WebhookEndpoint
from jobs.models import Dataset, Job, ModelAsset
from tests.api.helpers import client_for, fields, make_job, problem


def deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def raw_post(client, path: str, text: str):
    return client.generic(
        "POST", path, text.encode("utf-8", "surrogatepass"), content_type="application/json"
    )


@pytest.fixture
def as_owner(owner, team):
    return client_for(owner, team)


@pytest.fixture
def as_member(member, team):
    return client_for(member, team)


@pytest.fixture
def finished_job(team, member, tiny_model, dataset):
    return make_job(team, member, tiny_model, dataset, status="succeeded")


ENDPOINTS = ["/api/v1/jobs", "/api/v1/models", "/api/v1/webhooks", "/api/v1/jobs/{job}/clone"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("levels", [40, 1_500, 10_000])
def test_deeply_nested_json_is_a_400_naming_the_limit(as_owner, finished_job, path, levels):
    body = problem(raw_post(as_owner, path.format(job=finished_job.pk), deep(levels)), 400)
    assert "32 levels" in body["detail"], body
    assert Job.objects.count() == 1 and not WebhookEndpoint.objects.exists()
    assert not ModelAsset.objects.filter(source="hub").exists()


def test_nesting_within_the_limit_reaches_the_serializer(as_owner, finished_job):
    body = problem(raw_post(as_owner, "/api/v1/models", deep(30)), 400)
    assert "32 levels" not in body["detail"]


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"base_model": 1, "dataset": 1, "method": "\\ud800"}', "method"),
        ('{"base_model": 1, "dataset": 1, "objective": "\\udfff"}', "objective"),
        ('{"base_model": 1, "dataset": 1, "name": "a\\u0000b"}', "name"),
        (
            '{"base_model": 1, "dataset": 1, "method": "prompt_tuning", '
            '"params": {"method_params": {"init_text": "x\\u0000"}}}',
            "params.method_params.init_text",
        ),
        ('{"base_model": 1, "dataset": 1, "params": {"\\ud800": 1}}', "params"),
        ('{"base_model": 1, "dataset": 1, "tags": ["ok", "\\ud83d"]}', "tags[1]"),
    ],
)
def test_unstorable_text_is_a_400_at_its_path(as_member, body, field):
    errors = fields(problem(raw_post(as_member, "/api/v1/jobs", body), 400))
    assert field in errors, errors
    assert not Job.objects.exists()


def test_an_error_quoting_a_lone_surrogate_is_still_written():
    """problems.py escapes what cannot be encoded, wherever the message came from."""
    from rest_framework import exceptions
    from rest_framework.renderers import JSONRenderer

    from api.problems import exception_handler

    response = exception_handler(exceptions.ValidationError({"method": ["unknown method '\ud800'"]}), {})
    rendered = JSONRenderer().render(response.data)
    assert "\\\\ud800" in rendered.decode() or "\\ud800" in json.loads(rendered)["errors"][0]["message"]


@pytest.mark.parametrize("seed", [10**4000 - 1, 2**32, -1])
def test_a_seed_past_its_bound_is_refused_at_submit(as_member, tiny_model, dataset, seed):
    text = json.dumps(
        {"base_model": tiny_model.pk, "dataset": dataset.pk, "params": {"training": {"seed": 0}}}
    )
    text = text.replace('"seed": 0', f'"seed": {seed}')
    response = raw_post(as_member, "/api/v1/jobs", text)
    assert response.status_code == 400, response.content[:300]
    assert "seed" in response.json()["detail"]
    assert not Job.objects.exists()


def test_a_seed_at_its_bound_is_accepted(as_member, tiny_model, dataset):
    body = {"base_model": tiny_model.pk, "dataset": dataset.pk, "params": {"training": {"seed": 2**32 - 1}}}
    assert as_member.post("/api/v1/jobs", body, format="json").status_code == 201


# --- item 6: one early refusal for both doors -------------------------------------------


class CountingPayload(FakePayload):
    """The request body, counting how much of it the server reads."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.taken = 0

    def read(self, size=-1, /):
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk

    def readline(self, size=-1, /):
        line = super().readline(size)
        self.taken += len(line)
        return line


def _big_multipart(size: int) -> tuple[bytes, str]:
    boundary = "hostileboundary"
    body = encode_multipart(boundary, {"name": "big", "file": SimpleUploadedFile("big.jsonl", b"x" * size)})
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("door", ["/datasets/new/", "/api/v1/datasets"])
def test_both_doors_refuse_a_body_over_the_limit_before_reading_it(client, member, team, settings, door):
    from tests.api.helpers import client_for

    settings.HONE_MAX_UPLOAD_BYTES = 1024 * 1024
    body, content_type = _big_multipart(3 * 1024 * 1024)
    payload = CountingPayload(body)
    if door.startswith("/api/"):
        sender = client_for(member, team)
    else:
        client.force_login(member)
        sender = client
    response = sender.generic(
        "POST",
        door,
        content_type=content_type,
        **{"wsgi.input": payload, "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": content_type},
    )
    assert payload.taken == 0, f"{door} read {payload.taken} bytes of a body it refused"
    assert response.status_code in (200, 413)
    assert "larger than the 1 MB limit" in response.content.decode()
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("door", ["/datasets/new/", "/api/v1/datasets"])
def test_both_doors_stop_reading_a_file_at_the_limit(client, member, team, settings, door):
    """Under the declared-size check (the multipart slack) but over the limit: the handler refuses
    it as the bytes pass the limit (the browser's form used to spool all of it to /tmp first)."""
    from tests.api.helpers import client_for

    settings.HONE_MAX_UPLOAD_BYTES = 1024 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every byte goes through the temporary-file handler
    body, content_type = _big_multipart(1024 * 1024 + 40 * 1024)
    payload = CountingPayload(body)
    sender = client_for(member, team) if door.startswith("/api/") else client
    client.force_login(member)
    response = sender.generic(
        "POST",
        door,
        content_type=content_type,
        **{"wsgi.input": payload, "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": content_type},
    )
    assert "big.jsonl: the file is larger than the 1 MB limit" in response.content.decode()
    assert not Dataset.objects.exists()
