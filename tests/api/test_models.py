"""/api/v1/models: built-in and own models; register a hub id or a directory, fetching nothing."""

from __future__ import annotations

import pytest

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


def test_a_model_directory_is_described_from_its_files(as_member, tiny_model_dir):
    response = register(as_member, path=str(tiny_model_dir), name="local llama")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["task"], body["architecture"]) == ("local", "causal-lm", "LlamaForCausalLM")
    assert body["parameter_count"] > 0 and body["path"] == str(tiny_model_dir)


@pytest.mark.parametrize(
    "path, message", [("relative/dir", "absolute"), ("/nonexistent/x", "not a directory")]
)
def test_bad_paths_are_refused(as_member, path, message):
    assert message in fields(problem(register(as_member, path=path), 400))["path"]


def test_a_directory_that_is_not_a_model_is_refused(as_member, tmp_path):
    assert "config.json" in fields(problem(register(as_member, path=str(tmp_path)), 400))["path"]


def test_paths_inside_storage_are_refused(as_member, settings, tiny_model_dir):
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


def test_exactly_one_source(as_member, tiny_model_dir):
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
