"""The objective registry: SFT is one entry among the others, and everything else reads it."""

from __future__ import annotations

import pytest

from trainers import catalogue
from trainers.objectives import params, registry
from trainers.objectives.base import Recipe
from trainers.spec import SpecError, TrainSpec


def test_every_objective_has_a_recipe_and_its_group_on_the_spec():
    assert list(registry.OBJECTIVES) == [
        "sft", "pretrain", "classification", "dpo", "orpo", "simpo", "kto", "grpo", "rejection_sampling",
        "refusal_aware",
    ]  # fmt: skip
    for objective in registry.OBJECTIVES.values():
        assert isinstance(objective.load_recipe(), Recipe), objective.name
        if objective.params is not None:
            assert objective.params in TrainSpec.model_fields[objective.name].annotation.__args__
    assert set(TrainSpec.model_fields["objective"].annotation.__args__) == set(registry.OBJECTIVES)


def test_the_platforms_tables_are_derived_from_the_registry():
    assert {o.name: o.tasks for o in registry.OBJECTIVES.values()} == params.OBJECTIVE_TASKS
    assert params.OBJECTIVE_TITLES["sft"] == registry.get("sft").title
    preference = {"dpo", "orpo", "simpo", "kto"}
    assert set(params.OBJECTIVE_PARAMS) == preference | {"grpo", "rejection_sampling", "refusal_aware"}
    assert set(params.PREFERENCE_OBJECTIVES) == preference
    assert [o["name"] for o in catalogue.objectives()] == list(registry.OBJECTIVES)
    assert catalogue.objective_tasks("classification") == ("classification",)


def test_an_unknown_objective_is_named_with_the_known_ones():
    with pytest.raises(SpecError) as refused:
        registry.get("rlhf")
    assert str(refused.value) == (
        "objective: unknown objective 'rlhf'; known objectives: sft, pretrain, classification, dpo, orpo, "
        "simpo, kto, grpo, rejection_sampling, refusal_aware"
    )


def test_prompt_based_methods_train_only_the_objectives_that_take_virtual_tokens():
    prompt_tuning = catalogue.get("prompt_tuning")
    assert prompt_tuning.objectives == ("sft", "pretrain")
    assert all(registry.get(o).virtual_tokens for o in prompt_tuning.objectives)
    assert not registry.get("dpo").virtual_tokens


def test_one_method_type_and_one_lookup():
    from trainers import methods

    assert catalogue.Method is methods.TrainMethod and catalogue.get("lora") is methods.get("lora")
    assert catalogue.UnknownMethod is methods.UnknownMethod
    with pytest.raises(catalogue.UnknownMethod, match="unknown method 'nope'; known methods: lora, loraplus"):
        catalogue.get("nope")
    assert list(catalogue.get("loraplus").params) == ["lora", "method_params", "training"]
    assert list(catalogue.get("full").params) == ["training"]
