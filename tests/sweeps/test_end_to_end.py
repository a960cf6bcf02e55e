"""A sweep end to end with the real trainer: the tiny Llama built in a fixture, a few steps per trial.
The reconciler's passes start the preset and the trials, their real eval losses are told to the study,
and the sweep ends with its best trial and the comparison with the preset."""

from __future__ import annotations

import sys

import pytest

from jobs.launch import launch
from jobs.sweeps import results
from tests.sweeps.test_driver import sweep_to_end


@pytest.fixture(autouse=True)
def _real_trainer(settings):
    settings.HONE_TRAINER_PYTHON = sys.executable
    settings.HONE_LOCAL_SLOTS = 4
    settings.HONE_INGEST_URL = ""


def test_a_tpe_sweep_of_the_tiny_model_finds_its_best_trial(sweep_request):
    trial = {
        "lora": {"r": 4},
        "training": {
            "epochs": 1,
            "batch_size": 16,
            "max_seq_length": 64,
            "evals_per_run": 2,
            "checkpoints_per_run": 0,
        },
    }
    space = {"training.learning_rate": {"low": 1e-4, "high": 5e-2, "log": True}}
    request = sweep_request(
        trial=trial, space=space, budget={"trials": 2, "parallel": 2}, compare_preset=True
    )
    sweep = launch(request)
    sweep_to_end(sweep, timeout=240)
    assert sweep.status == "succeeded", sweep.error
    found = results.summary(sweep)
    assert [t.state for t in found.trials] == ["complete", "complete"]
    values = [t.value for t in found.trials]
    assert all(v is not None and v > 0 for v in values) and values[0] != values[1]  # real, different losses
    assert found.best.value == min(values)
    assert found.preset.value is not None and found.preset.state == "succeeded"
    assert found.gain == pytest.approx(found.preset.value - found.best.value)
    assert found.compute_seconds > 0 and all(t.attempt_seconds > 0 for t in found.trials)
    learning_rates = {t.params["training.learning_rate"] for t in found.trials}
    jobs = {j.params["training"]["learning_rate"] for j in sweep.trials.exclude(trial_number=None)}
    assert learning_rates == jobs
