"""The team's saved presets renamed and deleted: by members who may launch, on the team page and
through the API; viewers are refused, other teams' presets are not found."""

from __future__ import annotations

import pytest

from jobs.models import TeamPreset
from tests.api.helpers import client_for


@pytest.fixture
def preset(team):
    return TeamPreset.objects.create(team=team, name="tuned", method="lora", objective="sft", params={})


def test_a_member_renames_and_deletes_a_preset_on_the_team_page(client, member, team, preset):
    TeamPreset.objects.create(team=team, name="taken", method="lora", objective="sft", params={})
    client.force_login(member)
    page = client.get("/team/").content.decode()
    assert f'action="/team/presets/{preset.pk}/rename/"' in page and f"?preset={preset.pk}" in page
    client.post(f"/team/presets/{preset.pk}/rename/", {"name": "taken"})
    preset.refresh_from_db()
    assert preset.name == "tuned"  # the team has a "taken" already: refused, with a message
    assert client.post(f"/team/presets/{preset.pk}/rename/", {"name": " r16 "}).status_code == 302
    preset.refresh_from_db()
    assert preset.name == "r16"
    assert client.post(f"/team/presets/{preset.pk}/delete/").status_code == 302
    assert not TeamPreset.objects.filter(pk=preset.pk).exists()


def test_a_viewer_sees_presets_but_cannot_change_them(client, viewer, preset):
    client.force_login(viewer)
    page = client.get("/team/").content.decode()
    assert "tuned" in page and "/rename/" not in page
    assert client.post(f"/team/presets/{preset.pk}/delete/").status_code == 403
    assert TeamPreset.objects.filter(pk=preset.pk).exists()


def test_another_teams_preset_is_not_found(client, outsider, preset):
    client.force_login(outsider)
    assert client.post(f"/team/presets/{preset.pk}/rename/", {"name": "mine"}).status_code == 404
    api = client_for(outsider, outsider.memberships.get().team)
    assert api.delete(f"/api/v1/presets/{preset.pk}").status_code == 404
    assert TeamPreset.objects.get(pk=preset.pk).name == "tuned"


def test_the_api_renames_and_deletes_a_preset(member, viewer, team, preset):
    api = client_for(member, team)
    assert api.get(f"/api/v1/presets/{preset.pk}").json()["name"] == "tuned"
    renamed = api.patch(f"/api/v1/presets/{preset.pk}", {"name": "r16"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "r16"
    TeamPreset.objects.create(team=team, name="taken", method="lora", objective="sft", params={})
    clash = api.patch(f"/api/v1/presets/{preset.pk}", {"name": "taken"}, format="json")
    assert clash.status_code == 409 and "already" in clash.json()["detail"]
    assert api.patch(f"/api/v1/presets/{preset.pk}", {}, format="json").status_code in (400, 422)
    assert client_for(viewer, team).delete(f"/api/v1/presets/{preset.pk}").status_code == 403
    assert api.delete(f"/api/v1/presets/{preset.pk}").status_code == 204
    assert not TeamPreset.objects.filter(pk=preset.pk).exists()
