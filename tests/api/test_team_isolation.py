"""A token of team A gets 404 for every object of team B, on every route and method.

The routes come from the API's URLconf, so a new endpoint is covered as soon as it exists:
a path parameter this test does not know how to fill fails the test until it learns it."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern

from api import tokens, urls, webhooks
from api.models import ApiToken
from jobs.data import storage
from jobs.models import Artifact, ComputeProfile, ModelAsset, TeamPreset
from tests.api.helpers import client_for, problem

# Path parameters that name something shared by every team (not team data).
GLOBAL_PARAMETERS = {"method"}
METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> list[tuple[str, URLPattern, list[str]]]:
    found = []
    for pattern in urls.urlpatterns:
        names = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
        view = getattr(pattern.callback, "view_class", None)
        if names and view is not None:
            found.append((str(pattern.pattern), pattern, names))
    return found


@pytest.fixture
def theirs(settings, other_team, outsider, other_job, other_dataset):
    """One object of team B for every kind of path parameter."""
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    path = storage.root() / "runs" / f"job-{other_job.pk}" / "weights.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    artifact = Artifact.objects.create(
        job=other_job, name="weights", kind="model", location=storage.relative(path), bytes=7, sha256="c" * 64
    )
    profile = ComputeProfile.objects.create(name="globex-only")
    profile.allowed_teams.add(other_team)
    tokens.issue(user=outsider, team=other_team, name="theirs")
    return {
        "job_id": other_job.pk,
        "dataset_id": other_dataset.pk,
        "artifact_id": artifact.pk,
        "model_id": ModelAsset.objects.create(
            team=other_team, name="theirs", source="hub", hub_id="globex/model", task="causal-lm"
        ).pk,
        "webhook_id": webhooks.create_endpoint(team=other_team, user=outsider, url="http://127.0.0.1:9/x").pk,
        "token_id": ApiToken.objects.get(name="theirs").pk,
        "profile_id": profile.pk,
        "team_id": other_team.pk,
        "preset_id": TeamPreset.objects.create(
            team=other_team, name="theirs", method="lora", objective="sft", params={}
        ).pk,
    }


def test_every_route_with_a_parameter_is_covered(theirs):
    routes = api_routes()
    assert len(routes) >= 15
    unknown = {name for _, _, names in routes for name in names} - theirs.keys() - GLOBAL_PARAMETERS
    assert not unknown, f"teach this test how to make another team's object for {unknown}"


def test_another_teams_objects_are_404_everywhere(as_owner, theirs, outsider, other_team):
    checked = 0
    own = client_for(outsider, other_team)
    for route, pattern, names in api_routes():
        if set(names) & GLOBAL_PARAMETERS:
            continue
        path = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(theirs[m.group(1)]), route)
        for method in METHODS:
            if not hasattr(pattern.callback.view_class, method):
                continue
            response = getattr(as_owner, method)(path, {}, format="json")
            assert response.status_code == 404, f"{method.upper()} {path}: {response.status_code}"
            problem(response, 404)
            checked += 1
        if hasattr(pattern.callback.view_class, "get"):  # the ids are real: team B can read them
            assert own.get(path).status_code == 200, f"GET {path} as its own team"
    assert checked >= 20


def test_another_teams_models_and_datasets_are_refused_as_job_inputs(as_owner, theirs, tiny_model):
    """Creating jobs reads inputs by id too: team B's are refused exactly like ids that do not exist."""
    mine = tiny_model.pk

    def bodies(model: int, dataset: int) -> list[tuple[dict, str]]:
        return [
            (
                {"kind": "merge", "method": "linear", "models": [{"model": mine}, {"model": model}]},
                "models[1].model",
            ),
            (
                {"kind": "merge", "method": "ties", "models": [{"model": mine}] * 2, "base_model": model},
                "base_model",
            ),
            ({"kind": "quantize", "method": "rtn_int8", "model": model}, "model"),
            (
                {"kind": "quantize", "method": "gptq_int4", "model": mine, "calibration": dataset},
                "calibration",
            ),
            ({"kind": "evaluate", "base_model": mine, "candidate": model}, "candidate"),
            ({"kind": "evaluate", "base_model": mine, "candidate": mine, "dataset": dataset}, "dataset"),
            ({"base_model": model, "dataset": dataset}, "base_model"),
        ]

    missing = 10**9
    pairs = zip(bodies(theirs["model_id"], theirs["dataset_id"]), bodies(missing, missing), strict=True)
    for (body, field), (missing_body, _) in pairs:
        refused = {
            e["field"]: e["message"]
            for e in problem(as_owner.post("/api/v1/jobs", body, format="json"), 400)["errors"]
        }
        unknown = {
            e["field"]: e["message"]
            for e in problem(as_owner.post("/api/v1/jobs", missing_body, format="json"), 400)["errors"]
        }
        assert refused[field] == unknown[field].replace(str(missing), str(body_id(body, field))), body
    assert not as_owner.get("/api/v1/jobs").json()["results"]


def body_id(body: dict, field: str) -> int:
    return body["models"][1]["model"] if field == "models[1].model" else body[field]
