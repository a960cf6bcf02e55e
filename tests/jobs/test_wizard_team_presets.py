"""The team's saved presets in the guided set-up: offered beside the built-in ones where they train the
goal's objective and fit the model, launched with their own settings; another team's never."""

from __future__ import annotations

import re

import pytest

from jobs.models import Job, TeamPreset
from tests.jobs.test_views_wizard import url
from trainers.spec import LoraParams, TrainingParams


def saved_params(**training) -> dict:
    return {
        "lora": LoraParams(r=4, alpha=8).model_dump(mode="json"),
        "training": TrainingParams(epochs=1, max_seq_length=64, **training).model_dump(mode="json"),
    }


@pytest.fixture
def choices(tiny_model, dataset) -> dict:
    return {"goal": "chat", "dataset": dataset.pk, "model": tiny_model.pk}


@pytest.fixture
def tuned(team):
    return TeamPreset.objects.create(
        team=team, name="tuned r4", method="lora", objective="sft", params=saved_params(learning_rate=3e-4),
        metric="eval/loss", value=1.25,
    )


def test_the_method_step_offers_the_teams_presets_that_fit(client, member, choices, tuned, team, other_team):
    for owner, name, objective in ((team, "for dpo", "dpo"), (other_team, "theirs", "sft")):
        fields = {"method": "lora", "objective": objective, "params": saved_params()}
        TeamPreset.objects.create(team=owner, name=name, **fields)
    client.force_login(member)
    body = client.get(url("method", **choices, max_length=64)).content.decode()
    assert "<strong>tuned r4</strong>" in body and "eval/loss 1.25" in body
    assert f'value="team-{tuned.pk}"' in body and "rank 4" in body
    assert "for dpo" not in body and "theirs" not in body  # another objective; another team
    assert re.search(r'value="balanced" id="preset-balanced" checked', body)


def test_launching_from_a_team_preset_keeps_its_settings(client, member, choices, tuned):
    client.force_login(member)
    preset = f"team-{tuned.pk}"
    review = client.get(url("review", **choices, preset=preset, max_length=64)).content.decode()
    assert "Preset: tuned r4" in review
    posted = {**choices, "preset": preset, "max_length": 64, "name": "from saved"}
    response = client.post(url("review"), posted)
    job = Job.objects.get(name="from saved")
    assert response.status_code == 302
    assert (job.method, job.params["lora"]["r"], job.params["training"]["learning_rate"]) == ("lora", 4, 3e-4)


def test_a_preset_key_not_of_the_team_falls_back_to_the_default(client, member, choices, tuned):
    client.force_login(member)
    TeamPreset.objects.filter(pk=tuned.pk).delete()  # a deleted preset, as another team's: not this team's
    body = client.get(url("method", **choices, preset=f"team-{tuned.pk}", max_length=64)).content.decode()
    assert "tuned r4" not in body
    assert re.search(r'value="balanced" id="preset-balanced" checked', body)
