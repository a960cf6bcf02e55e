"""A GRPO sweep whose trials are scored by a team's classifier: the sweep and each trial record the
classifier as their ``reward_model`` input (once each), and each trial's spec hands the trainer its
directory — the same lineage and the same path a single GRPO job gets, through the one launch path."""

from __future__ import annotations

import pytest

from jobs.launch import LaunchRefused, LaunchRequest, launch
from jobs.launch.types import DatasetInput, ModelInput
from jobs.lifecycle import specs
from jobs.models import Job, JobInput
from jobs.sweeps import driver
from tests.api.test_job_grpo import _dataset
from tests.api.test_job_reward_model import _classifier
from trainers.tiny import larger_number_rows


@pytest.fixture(autouse=True)
def _no_trainer(settings):
    settings.HONE_INGEST_URL = ""


def _sweep(team, member, tiny_model, sums, model_id: int) -> LaunchRequest:
    reward = {"name": "classifier", "params": {"model": model_id, "label": "high"}}
    return LaunchRequest(
        kind="sweep", team=team, user=member, name="rewarded", method="lora", objective="grpo",
        params={"trial": {"grpo": {"rewards": [reward], "num_generations": 2}, "training": {"epochs": 1}},
                "space": {"training.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}},
                "sampler": "random", "pruner": "none", "metric": "eval/reward", "direction": "maximize",
                "budget": {"trials": 2, "parallel": 2}, "compare_preset": False},
        models=(ModelInput("base", tiny_model),), datasets=(DatasetInput("dataset", sums),),
    )  # fmt: skip


def test_each_trial_of_a_sweep_records_and_gets_the_classifier_that_scores_it(
    team, member, tiny_model, tiny_model_dir, tmp_path
):
    sums = _dataset(team, member, "sums", larger_number_rows(30))
    judge = _classifier(team, tiny_model_dir, tmp_path / "judge")
    sweep = launch(_sweep(team, member, tiny_model, sums, judge.pk))
    assert [i.model for i in sweep.inputs.filter(role=JobInput.Role.REWARD_MODEL)] == [judge]
    driver.drive(sweep.pk)
    trials = list(sweep.trials.order_by("trial_number"))
    assert len(trials) == 2
    for trial in trials:
        assert (trial.kind, trial.objective) == ("train", "grpo")
        assert [i.model for i in trial.inputs.filter(role=JobInput.Role.REWARD_MODEL)] == [judge]
        assert trial.params["grpo"]["rewards"][0]["params"] == {
            "model": judge.pk,
            "label": "high",
            "reads": "completion",
        }
        assert specs.build_spec(trial, 1, None)["reward_models"] == {str(judge.pk): judge.path}


def test_a_sweep_naming_another_teams_classifier_is_refused_and_nothing_is_created(
    team, member, other_team, tiny_model, tiny_model_dir, tmp_path
):
    sums = _dataset(team, member, "sums", larger_number_rows(30))
    theirs = _classifier(other_team, tiny_model_dir, tmp_path / "theirs")
    with pytest.raises(LaunchRefused) as refused:
        launch(_sweep(team, member, tiny_model, sums, theirs.pk))
    found = {".".join(map(str, p.loc)): p.message for p in refused.value.problems}
    assert found == {"grpo.rewards.0.params.model": f"model {theirs.pk} not found"}, (
        found
    )  # where the trial's own places are
    assert not Job.objects.filter(kind="sweep").exists()
