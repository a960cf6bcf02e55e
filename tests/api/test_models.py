"""/api/v1/models: built-in and own models; register a hub id or a directory, fetching nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.serializers.models import NOT_A_MODEL
from jobs.models import ModelAsset
from tests.api.helpers import fields, make_job, problem


def register(client, **body):
    return client.post("/api/v1/models", body, format="json")


def test_it_lists_built_in_and_own_models_but_not_others(as_member, tiny_model, team, other_team):
    own = ModelAsset.objects.create(team=team, name="mine", source="hub", hub_id="org/mine", task="causal-lm")
    ModelAsset.objects.create(team=other_team, name="theirs", source="hub", hub_id="org/x", task="causal-lm")
    listed = as_member.get("/api/v1/models").json()
    assert {m["name"]: m["shared"] for m in listed} == {"tiny-llama": True, "mine": False}
    assert [m["id"] for m in as_member.get("/api/v1/models?source=hub").json()] == [own.pk]


def test_a_hub_id_is_registered_without_fetching_it(as_member, team):
    response = register(as_member, hub_id="Qwen/Qwen2.5-0.5B-Instruct")
    assert response.status_code == 201, response.content
    model = ModelAsset.objects.get(pk=response.json()["id"])
    assert (model.team, model.source, model.hub_id, model.name, model.task) == (
        team,
        "hub",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "causal-lm",
    )


@pytest.mark.parametrize(
    "hub_id", ["a/b/c", "../etc", "bad id", "org/-x", "org/x.git", "org//x", "a--b/c", ""]
)
def test_malformed_hub_ids_are_refused(as_member, hub_id):
    assert "hub_id" in fields(problem(register(as_member, hub_id=hub_id), 400))


@pytest.fixture
def model_dirs(settings, tiny_model_dir):
    """Models may come from the folder that holds the tiny model (as an operator would set it)."""
    settings.HONE_MODEL_DIRS = [str(tiny_model_dir.parent)]
    return tiny_model_dir.parent


@pytest.fixture
def anywhere(settings):
    """The embedded default: no HONE_MODEL_DIRS, registering by path allowed outside storage."""
    settings.HONE_MODEL_DIRS, settings.HONE_MODEL_DIRS_REQUIRED = [], False


def test_a_model_directory_is_described_from_its_files(as_member, tiny_model_dir, model_dirs):
    response = register(as_member, path=str(tiny_model_dir), name="local llama")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["task"], body["architecture"]) == ("local", "causal-lm", "LlamaForCausalLM")
    assert body["parameter_count"] > 0 and body["path"] == str(tiny_model_dir)


def test_production_registers_paths_only_from_model_dirs(as_member, settings, tiny_model_dir):
    settings.HONE_MODEL_DIRS, settings.HONE_MODEL_DIRS_REQUIRED = [], True
    assert "HONE_MODEL_DIRS" in fields(problem(register(as_member, path=str(tiny_model_dir)), 400))["path"]


def test_production_settings_require_model_dirs(monkeypatch):
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.HONE_MODEL_DIRS_REQUIRED)"
    for url, expected in (("postgres://u@h/db", "True"), ("", "False")):
        env = {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hone.settings", "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.stdout.strip() == expected, out.stderr[-2000:]


@pytest.mark.parametrize(
    "path, message", [("relative/dir", "absolute"), ("/nonexistent/x", "not a directory")]
)
def test_bad_paths_are_refused(as_member, model_dirs, path, message):
    if path.startswith("/"):
        path = str(model_dirs / "nonexistent")
    assert message in fields(problem(register(as_member, path=path), 400))["path"]


def test_a_directory_that_is_not_a_model_is_refused(as_member, model_dirs):
    (model_dirs / "empty").mkdir(exist_ok=True)
    assert "config.json" in fields(problem(register(as_member, path=str(model_dirs / "empty")), 400))["path"]


def test_paths_inside_storage_are_refused(as_member, settings, tiny_model_dir, model_dirs):
    settings.HONE_STORAGE = tiny_model_dir.parent
    assert (
        "inside Hone's storage" in fields(problem(register(as_member, path=str(tiny_model_dir)), 400))["path"]
    )


def test_model_dirs_setting_limits_where_models_come_from(as_member, settings, tiny_model_dir, tmp_path):
    settings.HONE_MODEL_DIRS = [str(tmp_path)]
    assert (
        "can be registered from"
        in fields(problem(register(as_member, path=str(tiny_model_dir)), 400))["path"]
    )


@pytest.mark.parametrize("path", ["/" + "a" * 300, "/tmp/" + "b" * 256 + "/c", "/tmp/" + "é" * 200])
def test_overlong_paths_are_a_400(as_member, anywhere, path):
    assert "not a usable path" in fields(problem(register(as_member, path=path), 400))["path"]


@pytest.mark.parametrize("path", ["/proc/self/cwd", "/proc/1/root", "/sys/kernel", "/dev/shm", "/dev/null"])
def test_system_folders_are_refused_without_telling_what_is_there(as_member, anywhere, path):
    message = fields(problem(register(as_member, path=path), 400))["path"]
    assert "/proc, /sys and /dev" in message
    assert str(Path.cwd()) not in message


@pytest.mark.parametrize("path", ["/etc", "/root", "/nonexistent", "/etc/passwd", "/usr/lib"])
def test_outside_model_dirs_answers_never_tell_what_exists(as_member, anywhere, path):
    """'/etc has no config.json' told that /etc exists; every such path gets the same answer."""
    message = fields(problem(register(as_member, path=path), 400))["path"]
    assert message == NOT_A_MODEL
    assert path not in message


def test_a_folder_another_team_registered_is_not_theirs_to_register(
    as_member, as_outsider, tiny_model_dir, anywhere
):
    assert register(as_outsider, path=str(tiny_model_dir)).status_code == 201
    message = fields(problem(register(as_member, path=str(tiny_model_dir)), 400))["path"]
    assert "no model directory" in message
    assert register(as_outsider, path=str(tiny_model_dir), name="again").status_code == 201  # their own


def test_exactly_one_source(as_member, tiny_model_dir, model_dirs):
    problem(register(as_member), 400)
    problem(register(as_member, hub_id="gpt2", path=str(tiny_model_dir)), 400)


def test_a_viewer_cannot_register(as_viewer):
    problem(register(as_viewer, hub_id="gpt2"), 403)


def test_a_registered_model_can_be_removed_unless_used(as_member, team, member, dataset):
    model = ModelAsset.objects.get(pk=register(as_member, hub_id="gpt2").json()["id"])
    used = ModelAsset.objects.get(pk=register(as_member, hub_id="gpt2-medium").json()["id"])
    make_job(team, member, used, dataset)
    assert as_member.delete(f"/api/v1/models/{model.pk}").status_code == 204
    problem(as_member.delete(f"/api/v1/models/{used.pk}"), 409)


def test_built_in_models_cannot_be_removed(as_owner, tiny_model):
    problem(as_owner.delete(f"/api/v1/models/{tiny_model.pk}"), 403)
