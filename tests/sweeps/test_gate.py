"""A sweep's trials carry the promotion gate of the training job they start from (``params.trial.gate``)."""

from __future__ import annotations

import pytest

from jobs.launch import LaunchRefused, launch
from jobs.sweeps import driver
from trainers.sweep_space import apply_point


def test_each_trial_is_launched_with_the_sweeps_gate(sweep_request):
    gate = {"max_retention_drop": 2.0}
    sweep = launch(sweep_request(trial={"training": {"epochs": 1}, "gate": gate}))
    # What the driver does for each trial (driver.Driver.launch_trial): the point applied, then launched.
    method, params = apply_point("lora", "sft", sweep.params["trial"], {"lora.r": 2})
    trial = launch(driver.trial_request(sweep, 0, method, params))
    assert trial.params["gate"] == gate and trial.params["lora"]["r"] == 2


def test_a_bad_trial_gate_refuses_the_sweep(sweep_request):
    with pytest.raises(LaunchRefused, match=r"gate.max_retention_drop: .*greater than or equal to 0"):
        launch(sweep_request(trial={"training": {"epochs": 1}, "gate": {"max_retention_drop": -3}}))
