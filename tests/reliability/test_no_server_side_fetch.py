"""Registering a model or a dataset never makes the server fetch a URL: models are named by hub
id (fetched later by the trainer, from the operator's hub) or by a directory on the server, and
datasets are uploaded. URLs, private addresses included, are refused with a 400 naming the
field, and no outbound connection is even tried. (Webhooks, the one place Hone calls a URL
users give, go through api/ssrf.py: tests/api/test_webhooks.py.)"""

from __future__ import annotations

import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Dataset, ModelAsset
from tests.api.helpers import client_for, problem
from tests.conftest import jsonl_bytes

URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5432/",
    "https://10.0.0.8/model",
    "http://[::1]/x",
    "file:///etc/passwd",
    "//internal.example/x",
]


@pytest.fixture
def as_member(settings, member, team):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return client_for(member, team)


@pytest.fixture
def connections(monkeypatch) -> list:
    """Every outbound connection attempted, refused."""
    tried: list = []

    def refuse(self, address, *args, **kwargs):
        tried.append(address)
        raise OSError("outbound connections are not allowed in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return tried


@pytest.mark.parametrize("url", URLS)
def test_a_model_cannot_be_registered_by_url(as_member, connections, url) -> None:
    body = problem(as_member.post("/api/v1/models", {"hub_id": url}, format="json"), 400)
    assert any(error["field"] == "hub_id" for error in body["errors"]), body
    body = problem(as_member.post("/api/v1/models", {"path": url}, format="json"), 400)
    assert any(error["field"] == "path" for error in body["errors"]), body
    assert not ModelAsset.objects.filter(team__isnull=False).exists()
    assert connections == []


def test_registering_by_hub_id_fetches_nothing(as_member, connections) -> None:
    created = as_member.post(
        "/api/v1/models", {"hub_id": "acme/tiny-model", "task": "causal-lm"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert connections == []


def test_a_dataset_is_uploaded_never_fetched(as_member, connections, demo_rows) -> None:
    for url in URLS[:2]:
        refused = as_member.post("/api/v1/datasets", {"name": "x", "url": url}, format="multipart")
        assert refused.status_code == 400, refused.content
    upload = SimpleUploadedFile("train.jsonl", jsonl_bytes(demo_rows))
    made = as_member.post(
        "/api/v1/datasets", {"name": "ok", "file": upload, "url": URLS[0]}, format="multipart"
    )
    assert made.status_code == 201, made.content
    assert Dataset.objects.count() == 1
    assert connections == []
