"""Console fixtures: an operator (staff), and a cache of their own for the cluster view."""

from __future__ import annotations

import pytest

from tests.console.helpers import FAKE_PYTHON


@pytest.fixture(autouse=True)
def _own_cache(settings) -> None:
    # The test Redis is shared by concurrent runs: the cluster view stays in this process.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def fake_trainer(settings) -> None:
    settings.HONE_TRAINER_PYTHON = str(FAKE_PYTHON)
    settings.HONE_INGEST_URL = ""


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(username="operator", password="pw-operator", is_staff=True)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client
