"""A sweep's space, typed by the catalogue's own models, and the points Optuna samples from it."""

from __future__ import annotations

import optuna

from trainers.sweep_space import apply_point, grid, integer_places, point_of, suggest


def test_integer_fields_sample_whole_numbers_and_floats_stay_floats():
    space = {
        "lora.r": {"low": 2, "high": 64, "log": True},
        "training.learning_rate": {"low": 1e-5, "high": 1e-3},
    }
    assert integer_places(space, None) == {"lora.r"}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = [suggest(study.ask(), space, integer_places(space, None)) for _ in range(20)]
    assert all(isinstance(p["lora.r"], int) and 2 <= p["lora.r"] <= 64 for p in points)
    assert all(isinstance(p["training.learning_rate"], float) for p in points)


def test_a_point_sets_its_places_and_drops_groups_its_method_does_not_read():
    template = {"lora": {"r": 8}, "training": {"epochs": 2}}
    method, params = apply_point("lora", "sft", template, {"method": "full", "training.learning_rate": 1e-4})
    assert method == "full"
    assert params == {
        "training": {"epochs": 2, "learning_rate": 1e-4}
    }  # full fine-tuning reads no lora group
    method, params = apply_point("lora", "sft", template, {"lora.use_dora": True})
    assert (method, params["lora"]) == ("lora", {"r": 8, "use_dora": True})
    assert template == {"lora": {"r": 8}, "training": {"epochs": 2}}  # the sweep's own is left as it is


def test_list_choices_are_asked_of_optuna_as_text_and_come_back_as_lists():
    pair, four = ["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"]
    space = {"lora.target_modules": {"choices": [pair, four, "all-linear"]}, "lora.r": {"choices": [4, 8]}}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = []
    for _ in range(12):
        trial = study.ask()
        points.append(suggest(trial, space, set()))
        study.tell(trial, 1.0)
    assert {str(p["lora.target_modules"]) for p in points} == {str(pair), str(four), "all-linear"}
    stored = study.trials[0].params  # Optuna keeps the JSON text; a point reads it back
    assert isinstance(stored["lora.target_modules"], str)
    assert point_of(space, stored) == points[0]
    assert grid(space)["lora.target_modules"] == [
        '["q_proj", "v_proj"]',
        f"{four}".replace("'", '"'),
        "all-linear",
    ]
    _, params = apply_point("lora", "sft", {"lora": {"r": 8}}, {"lora.target_modules": pair})
    assert params["lora"] == {"r": 8, "target_modules": pair}
