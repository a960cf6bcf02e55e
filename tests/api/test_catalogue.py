"""The method catalogue, compute profiles, the caller and their teams."""

from __future__ import annotations

from jobs.models import ComputeProfile, Membership
from tests.api.helpers import client_for, problem
from trainers import catalogue
from trainers.spec import LoraParams, TrainingParams


def test_methods_carry_the_json_schema_of_their_parameters(as_viewer):
    methods = as_viewer.get("/api/v1/methods").json()
    trained = [m["name"] for m in methods if m["kind"] == "train"]
    assert trained == [m.name for m in catalogue.methods("train")]
    lora = as_viewer.get("/api/v1/methods/lora").json()
    assert lora == methods[0] == catalogue.get("lora").describe() | {"details": {}}
    assert lora["parameters"]["properties"]["lora"] == LoraParams.model_json_schema()
    assert lora["parameters"]["properties"]["training"] == TrainingParams.model_json_schema()
    assert (
        lora["parameters"]["properties"]["training"]["properties"]["learning_rate"]["exclusiveMinimum"] == 0
    )


def test_an_unknown_method_is_a_404_naming_the_known_ones(as_viewer):
    assert "known methods: lora" in problem(as_viewer.get("/api/v1/methods/full"), 404)["detail"]


def test_profiles_open_to_all_or_to_this_team(as_member, team, other_team):
    ComputeProfile.objects.all().delete()
    ComputeProfile.objects.create(name="everyone")
    ours = ComputeProfile.objects.create(name="ours")
    ours.allowed_teams.add(team, other_team)
    theirs = ComputeProfile.objects.create(name="theirs")
    theirs.allowed_teams.add(other_team)
    assert [p["name"] for p in as_member.get("/api/v1/profiles").json()] == ["everyone", "ours"]
    assert as_member.get(f"/api/v1/profiles/{ours.pk}").json()["name"] == "ours"
    problem(as_member.get(f"/api/v1/profiles/{theirs.pk}"), 404)


def test_me(as_viewer, team):
    body = as_viewer.get("/api/v1/me").json()
    assert body["user"]["username"] == "viewer"
    assert (body["team"]["slug"], body["team"]["role"], body["can_launch"]) == ("acme", "viewer", False)


def test_a_token_sees_its_own_team_and_a_session_sees_all(member, team, other_team, client):
    Membership.objects.create(team=other_team, user=member, role="viewer")
    as_token = client_for(member, team)
    assert [t["slug"] for t in as_token.get("/api/v1/teams").json()] == ["acme"]
    problem(as_token.get(f"/api/v1/teams/{other_team.pk}"), 404)
    client.force_login(member)
    assert {t["slug"]: t["role"] for t in client.get("/api/v1/teams").json()} == {
        "acme": "member",
        "globex": "viewer",
    }
    assert client.get(f"/api/v1/teams/{other_team.pk}").json()["role"] == "viewer"
