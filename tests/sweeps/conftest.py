"""Sweeps: a sweep of the tiny model on the demo data, and Optuna's connections closed after each test
(the test database is dropped at the end of the session)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _close_studies():
    yield
    from jobs.sweeps import study

    study.close()


@pytest.fixture
def sweep_request(team, member, tiny_model, dataset):
    """A sweep's launch request; ``**changes`` replace its search settings."""
    from jobs.launch import LaunchRequest
    from jobs.launch.types import DatasetInput, ModelInput

    def make(**changes):
        search = {
            "space": {
                "lora.r": {"choices": [2, 4]},
                "training.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            },
            "sampler": "tpe",
            "pruner": "median",
            "metric": "eval/loss",
            "direction": "minimize",
            "budget": {"trials": 4, "parallel": 2},
            "compare_preset": False,
        }
        trial = changes.pop("trial", {"training": {"epochs": 1}})
        return LaunchRequest(
            kind="sweep",
            team=team,
            user=member,
            name="s",
            method=changes.pop("method", "lora"),
            objective="sft",
            params={"trial": trial, **search, **changes},
            models=(ModelInput("base", tiny_model),),
            datasets=(DatasetInput("dataset", dataset),),
        )

    return make
