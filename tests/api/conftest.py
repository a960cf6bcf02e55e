"""Fixtures for the API tests: a client per role, each holding a real personal access token."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api.helpers import client_for, make_job


@pytest.fixture(autouse=True)
def _api_settings(settings) -> None:
    # Rate-limit counters in this process only, fresh for every test; a limit no test reaches
    # unless it lowers it on purpose.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.HONE_API_RATE = "100000/min"
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def as_owner(owner, team) -> APIClient:
    return client_for(owner, team)


@pytest.fixture
def as_member(member, team) -> APIClient:
    return client_for(member, team)


@pytest.fixture
def as_viewer(viewer, team) -> APIClient:
    return client_for(viewer, team)


@pytest.fixture
def as_outsider(outsider, other_team) -> APIClient:
    return client_for(outsider, other_team)


@pytest.fixture
def job(team, member, tiny_model, dataset):
    return make_job(team, member, tiny_model, dataset, status="running")


@pytest.fixture
def other_dataset(other_team, outsider):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.data.datasets import create_dataset
    from tests.conftest import jsonl_bytes
    from trainers.tiny import demo_instruction_rows

    upload = SimpleUploadedFile("theirs.jsonl", jsonl_bytes(demo_instruction_rows(30)))
    return create_dataset(team=other_team, user=outsider, name="theirs", upload=upload)


@pytest.fixture
def other_job(other_team, outsider, tiny_model, other_dataset):
    """A failed job of the other team."""
    return make_job(other_team, outsider, tiny_model, other_dataset, status="failed", name="theirs")
