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


@pytest.fixture(scope="session")
def half_model_dirs(tiny_model_dir, tmp_path_factory):
    """Two tiny LMs from the tiny model, one fine-tuned on each half of a toy task (a few seconds)."""
    from tests.support.half_models import fine_tune_on_half

    root = tmp_path_factory.mktemp("halves")
    return {half: fine_tune_on_half(tiny_model_dir, root / half, half) for half in ("a", "b")}


@pytest.fixture
def half_models(db, team, half_model_dirs):
    from jobs.models import ModelAsset

    return [
        ModelAsset.objects.create(
            team=team, name=f"tiny-{half}", source="upload", path=str(path), task="causal-lm",
            architecture="LlamaForCausalLM",
        )
        for half, path in half_model_dirs.items()
    ]


@pytest.fixture
def skewed_eval_set(team, member):
    """Text rows, nine in ten from half A: the weights that score best lean towards model A."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.data.datasets import create_dataset
    from tests.conftest import jsonl_bytes
    from tests.support.half_models import half_sentences

    rows = [{"text": t} for t in half_sentences("a", 45, seed=7) + half_sentences("b", 5, seed=7)]
    upload = SimpleUploadedFile("skewed.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="skewed", upload=upload)


@pytest.fixture
def merge_sweep_request(team, member, half_models, skewed_eval_set):
    """An evolved merge's launch request: a linear merge of the two half models, its weights searched
    against the perplexity on the skewed set; ``**changes`` replace its settings."""
    from jobs.launch import LaunchRequest
    from jobs.launch.types import DatasetInput, ModelInput

    def make(**changes):
        trial = changes.pop("trial", {"method": "linear", "params": {}})
        base = changes.pop("base", None)
        data = changes.pop("dataset", skewed_eval_set)
        search = {
            "trial_kind": "merge",
            "space": {"models.0.weight": {"low": 0.25, "high": 9, "log": True}},
            "sampler": "tpe",
            "pruner": "none",
            "metric": "eval/perplexity",
            "direction": "minimize",
            "budget": {"trials": 5, "parallel": 3},
            "compare_preset": True,
        } | changes
        models = tuple(ModelInput("model", m) for m in half_models)
        return LaunchRequest(
            kind="sweep",
            team=team,
            user=member,
            name="evolve",
            method=trial.get("method", "linear"),
            params={"trial": trial, **search},
            models=((ModelInput("base", base),) if base else ()) + models,
            datasets=(DatasetInput("dataset", data),) if data else (),
        )

    return make
