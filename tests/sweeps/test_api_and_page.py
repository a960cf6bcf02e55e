"""A sweep through the API (``kind: "sweep"``) and its page: refusals naming the body's path, nothing
created; trials listed with their job ids, the best trial one click from a new training job."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.api.helpers import client_for
from tests.sweeps.test_driver import _fake_trainer, sweep_to_end  # noqa: F401 (fixture)


@pytest.fixture
def as_member(member, team):
    return client_for(member, team)


def body(tiny_model, dataset, **changes) -> dict:
    return {
        "kind": "sweep",
        "base_model": tiny_model.pk,
        "dataset": dataset.pk,
        "params": {"training": {"epochs": 1}},
        "space": {
            "lora.r": {"choices": [2, 4]},
            "training.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
        },
        "budget": {"trials": 2, "parallel": 2},
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"space": {"lora.r": {"low": 1, "high": 4096}}}, "space.lora.r"),
        ({"space": {}}, "space"),
        ({"budget": {"trials": 0}}, "budget.trials"),
        ({"params": {"training": {"learning_rate": 5}}}, "params.training.learning_rate"),
        ({"metric": "loss"}, "metric"),
    ],
)
def test_it_refuses_bad_sweeps_naming_the_path_and_creates_nothing(
    as_member, tiny_model, dataset, changes, path
):
    response = as_member.post("/api/v1/jobs", body(tiny_model, dataset, **changes), format="json")
    assert response.status_code in (400, 422), response.content
    assert path in str(response.json()), response.json()
    assert not Job.objects.exists()


def test_it_refuses_more_parallel_trials_than_the_gpu_quota(as_member, team, tiny_model, dataset):
    from jobs.models import ComputeProfile

    team.max_gpus = 1
    team.save()
    gpu = ComputeProfile.objects.create(name="gpu", gpu_count=1, gpu_type="a100")
    response = as_member.post(
        "/api/v1/jobs", body(tiny_model, dataset, compute_profile=gpu.pk), format="json"
    )
    assert response.status_code in (400, 422)
    assert "budget.parallel" in str(response.json())
    assert not Job.objects.exists()


def test_a_sweeps_trials_and_best_come_back_with_their_job_ids(
    as_member, client, member, tiny_model, dataset
):
    response = as_member.post("/api/v1/jobs", body(tiny_model, dataset), format="json")
    assert response.status_code == 201, response.content
    sweep = Job.objects.get(pk=response.json()["id"])
    assert response.json()["kind"] == "sweep" and sweep.params["direction"] == "minimize"
    sweep_to_end(sweep)  # the preset takes one of the two places at once: two rounds
    assert sweep.status == "succeeded"
    result = as_member.get(f"/api/v1/jobs/{sweep.pk}/trials").json()
    jobs = {t.pk: t for t in sweep.trials.exclude(trial_number=None)}
    assert sorted(t["job"] for t in result["trials"]) == sorted(jobs)
    assert {t["state"] for t in result["trials"]} == {"complete"}
    assert result["best"]["value"] == pytest.approx(0.4)
    assert result["preset"]["job"] == sweep.trials.get(trial_number=None).pk
    assert result["gain_over_preset"] == pytest.approx(0.0)
    client.force_login(member)
    page = client.get(f"/jobs/{sweep.pk}/").content.decode()
    assert "sweep-trials" in page and "Train with the best settings" in page
    assert f"/jobs/new/?from={result['best']['job']}" in page


def test_a_training_job_has_no_trials(as_member, tiny_model, dataset, team, member):
    from tests.api.helpers import make_job

    job = make_job(team, member, tiny_model, dataset)
    response = as_member.get(f"/api/v1/jobs/{job.pk}/trials")
    assert response.status_code == 200
    assert (response.json()["trials"], response.json()["best"]) == ([], None)


def test_the_best_trial_saved_as_a_team_preset_starts_a_new_job_form(
    as_member, client, member, tiny_model, dataset, team
):
    from jobs.models import TeamPreset

    sweep_id = as_member.post("/api/v1/jobs", body(tiny_model, dataset), format="json").json()["id"]
    sweep = Job.objects.get(pk=sweep_id)
    early = as_member.post(f"/api/v1/jobs/{sweep.pk}/trials/best/preset", {}, format="json")
    assert early.status_code == 409 and "no complete trial" in early.json()["detail"]
    sweep_to_end(sweep)
    best = as_member.get(f"/api/v1/jobs/{sweep.pk}/trials").json()["best"]
    response = as_member.post(
        f"/api/v1/jobs/{sweep.pk}/trials/best/preset", {"name": "tuned r"}, format="json"
    )
    assert response.status_code == 201, response.content
    saved = TeamPreset.objects.get(pk=response.json()["id"])
    trial = Job.objects.get(pk=best["job"])
    assert (saved.team, saved.method, saved.objective, saved.params) == (
        team,
        trial.method,
        trial.objective,
        trial.params,
    )
    assert saved.params["lora"]["r"] == best["params"]["lora.r"]
    again = as_member.post(f"/api/v1/jobs/{sweep.pk}/trials/best/preset", {"name": "tuned r"}, format="json")
    assert again.status_code == 409 and "already" in again.json()["detail"]
    listed = as_member.get("/api/v1/presets").json()
    assert [p["name"] for p in listed] == ["tuned r"] and listed[0]["source_job"] == trial.pk

    client.force_login(member)
    page = client.get(f"/jobs/{sweep.pk}/").content.decode()
    assert "Save the best as a team preset" in page
    assert (
        page.count('class="chart sweep-scatter"') == 2
    )  # lora.r and the learning rate, each against the loss
    sorted_page = client.get(f"/jobs/{sweep.pk}/?trials=by-metric").content.decode()
    assert 'aria-sort="ascending"><a href="?trials=by-metric#sweep-trials"' in sorted_page
    assert client.post(f"/jobs/{sweep.pk}/save-preset/").status_code == 302  # "Best of s"
    assert TeamPreset.objects.filter(team=team, name=f"Best of {sweep.name}").exists()
    form = client.get("/jobs/new/").content.decode()
    assert f"?preset={saved.pk}" in form and "tuned r" in form
    prefilled = client.get(f"/jobs/new/?preset={saved.pk}")
    from jobs.web.forms import initial_from_params

    assert (
        prefilled.context["form"].initial.items() >= initial_from_params("lora", "sft", saved.params).items()
    )
    assert prefilled.context["preset"] == saved


def test_another_teams_preset_is_not_offered(client, other_team, member):
    from jobs.models import TeamPreset

    theirs = TeamPreset.objects.create(
        team=other_team, name="theirs", method="lora", objective="sft", params={}
    )
    client.force_login(member)
    response = client.get(f"/jobs/new/?preset={theirs.pk}")
    assert response.status_code == 200 and response.context["preset"] is None
    assert "theirs" not in response.content.decode()
