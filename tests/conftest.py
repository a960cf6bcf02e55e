"""Shared fixtures: a team with an owner, a member and a viewer; an outsider in another team;
the tiny demo model; a demo dataset. Tests run against the real PostgreSQL (see Makefile)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "The test suite runs against PostgreSQL: run it with `make test`, or set "
            "DATABASE_URL=postgres://root@127.0.0.1:5432/hone"
        )


@pytest.fixture(autouse=True)
def _test_settings(settings) -> None:
    # Pages render without `collectstatic`; fast hashing keeps user fixtures cheap.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test gets its own storage root."""
    path = tmp_path_factory.mktemp("storage")
    settings.HONE_STORAGE = path
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainers.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture
def team(db):
    from jobs.models import Team

    return Team.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_team(db):
    from jobs.models import Team

    return Team.objects.create(name="Globex", slug="globex")


def _user(django_user_model, username: str, team, role: str):
    from jobs.models import Membership

    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    Membership.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def owner(django_user_model, team):
    return _user(django_user_model, "owner", team, "owner")


@pytest.fixture
def member(django_user_model, team):
    return _user(django_user_model, "member", team, "member")


@pytest.fixture
def viewer(django_user_model, team):
    return _user(django_user_model, "viewer", team, "viewer")


@pytest.fixture
def outsider(django_user_model, other_team):
    return _user(django_user_model, "outsider", other_team, "owner")


@pytest.fixture
def tiny_model(db, tiny_model_dir):
    from jobs.models import ModelAsset

    return ModelAsset.objects.create(
        name="tiny-llama",
        source="builtin",
        path=str(tiny_model_dir),
        task="causal-lm",
        architecture="LlamaForCausalLM",
    )


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture
def demo_rows() -> list[dict]:
    from trainers.tiny import demo_instruction_rows

    return demo_instruction_rows(120)


@pytest.fixture
def dataset(team, member, demo_rows):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.data.datasets import create_dataset

    upload = SimpleUploadedFile("demo.jsonl", jsonl_bytes(demo_rows))
    return create_dataset(team=team, user=member, name="demo", upload=upload)
