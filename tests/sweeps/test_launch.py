"""A sweep through the one launch path: refused naming the place, before anything is created."""

from __future__ import annotations

import pytest

from jobs.launch import LaunchRefused, launch
from jobs.models import Job


def places(exc: LaunchRefused) -> dict[str, str]:
    return {".".join(map(str, p.loc)): p.message for p in exc.problems}


def test_a_sweep_is_created_running_with_no_trainer_queued(sweep_request):
    sweep = launch(sweep_request())
    assert (sweep.kind, sweep.status, sweep.objective) == ("sweep", "running", "sft")
    assert sweep.spec == {} and sweep.attempts.count() == 0
    assert list(sweep.transitions.values_list("status", flat=True)) == ["running"]


def test_it_refuses_a_range_outside_the_schemas_bounds(sweep_request):
    with pytest.raises(LaunchRefused) as refused:
        launch(sweep_request(space={"lora.r": {"low": 2, "high": 999}}))
    found = places(refused.value)
    assert list(found) == ["space.lora.r"]
    assert "high 999" in found["space.lora.r"] and "256" in found["space.lora.r"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("space", "where", "words"),
    [
        ({}, "space", "at least one parameter"),
        ({"lora.bogus": {"choices": [1]}}, "space.lora.bogus", "no parameter 'bogus'"),
        ({"method": {"choices": ["lora", "nope"]}}, "space.method.choices", "'nope' does not train sft"),
        ({"lora.target_modules": {"low": 1, "high": 3}}, "space.lora.target_modules", "not a number"),
        (
            {"training.learning_rate": {"low": 0.0, "high": 1e-3, "log": True}},
            "space.training.learning_rate",
            "log",
        ),
        ({"lora.r": {"low": 2.5, "high": 8}}, "space.lora.r", "whole number"),
        ({"dpo.beta": {"low": 0.1, "high": 0.5}}, "space.dpo.beta", "dpo objective"),
        ({"lora.use_dora": {"choices": [False, "maybe"]}}, "space.lora.use_dora", "choice 'maybe'"),
        ({"lora.r": {"choices": [4, [8, 16]]}}, "space.lora.r", "choice [8, 16]"),
        ({"lora.target_modules": {"choices": [["q_proj", 3]]}}, "space.lora.target_modules", "choice"),
    ],
)
def test_it_refuses_a_bad_space_naming_the_place(sweep_request, space, where, words):
    with pytest.raises(LaunchRefused) as refused:
        launch(sweep_request(space=space))
    found = places(refused.value)
    assert where in found, found
    assert words in found[where]
    assert not Job.objects.exists()


def test_it_refuses_more_trials_at_once_than_the_teams_gpu_quota(sweep_request, team):
    from jobs.models import ComputeProfile

    team.max_gpus = 2
    team.save()
    gpu = ComputeProfile.objects.create(name="gpu", gpu_count=1, gpu_type="a100")
    request = sweep_request(budget={"trials": 8, "parallel": 3})
    import dataclasses

    with pytest.raises(LaunchRefused) as refused:
        launch(dataclasses.replace(request, profile=gpu))
    assert "at most 2 at once" in places(refused.value)["budget.parallel"]
    assert not Job.objects.exists()


def test_it_refuses_a_bad_budget_and_bad_training_params(sweep_request):
    with pytest.raises(LaunchRefused) as refused:
        launch(sweep_request(budget={"trials": 0}, trial={"training": {"learning_rate": -1}}))
    found = places(refused.value)
    assert {"budget.trials", "training.learning_rate"} <= set(found)


def test_the_grid_sampler_takes_choices_only(sweep_request):
    with pytest.raises(LaunchRefused) as refused:
        launch(sweep_request(sampler="grid"))
    assert "grid sampler takes choices only" in str(refused.value)


def test_list_choices_search_lora_target_modules_through_the_one_door(sweep_request, client, member):
    from jobs.sweeps import driver, results

    attention = ["q_proj", "k_proj", "v_proj", "o_proj"]
    space = {"lora.target_modules": {"choices": [["q_proj", "v_proj"], attention]}}
    sweep = launch(sweep_request(space=space, sampler="grid", budget={"trials": 2, "parallel": 2}))
    driver.drive(sweep.pk)
    trials = sweep.trials.exclude(trial_number=None)
    assert sorted(t.params["lora"]["target_modules"] for t in trials) == [attention, ["q_proj", "v_proj"]]
    found = results.summary(sweep)
    assert sorted(t.params["lora.target_modules"] for t in found.trials) == sorted(
        t.params["lora"]["target_modules"] for t in trials
    )
    assert all(t.differs == t.params for t in found.trials)  # no preset to compare with
    client.force_login(member)
    page = client.get(f"/jobs/{sweep.pk}/").content.decode()
    assert '<td class="num">q_proj, k_proj, v_proj, o_proj</td>' in page  # read as a list, not JSON


@pytest.mark.parametrize(
    ("changes", "where"),
    [({"warmup_evals": -1}, "warmup_evals"), ({"pruner": "bogus"}, "pruner"), ({"metric": "loss"}, "metric")],
)
def test_it_refuses_bad_search_settings_naming_them(sweep_request, changes, where):
    with pytest.raises(LaunchRefused) as refused:
        launch(sweep_request(**changes))
    assert where in places(refused.value), places(refused.value)
    assert not Job.objects.exists()
