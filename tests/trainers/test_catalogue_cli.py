"""``python -m trainers methods``: the whole training catalogue, for people and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.trainers.conftest import REPO, trainer_env
from trainers import catalogue, methods
from trainers.spec import LoraParams, TrainingParams


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainers", "methods", *args],
        cwd=REPO,
        env=trainer_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_methods_json_lists_every_method_with_its_schema_and_the_valid_combinations() -> None:
    result = run_cli("--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(json.dumps(catalogue.catalogue()))
    listed = {m["name"]: m for m in printed["methods"]}
    assert list(listed) == list(methods.METHODS)
    for name, entry in listed.items():
        method = methods.get(name)
        groups = entry["parameters"]["properties"]
        assert groups["training"] == TrainingParams.model_json_schema()
        assert ("lora" in groups) == method.uses_lora_group
        if method.method_params is not None:
            assert groups["method_params"] == method.method_params.model_json_schema()
            for field, schema in groups["method_params"]["properties"].items():
                assert schema.get("description"), (name, field)  # every parameter says what it does
        assert entry["title"] and entry["description"] and entry["paper"].startswith("https://")
    assert groups and listed["lora"]["parameters"]["properties"]["lora"] == LoraParams.model_json_schema()
    assert {o["name"] for o in printed["objectives"]} == {
        "sft", "pretrain", "classification", "dpo", "orpo", "simpo", "kto", "grpo", "rejection_sampling",
        "refusal_aware",
    }  # fmt: skip
    pairs = {(c["objective"], c["method"]) for c in printed["combinations"]}
    assert ("classification", "lora") in pairs and ("sft", "prompt_tuning") in pairs
    assert ("classification", "prompt_tuning") not in pairs and ("dpo", "prefix_tuning") not in pairs
    by_objective = {o["name"]: o for o in printed["objectives"]}
    assert "prompt_tuning" not in by_objective["classification"]["methods"]


def test_methods_without_json_is_a_list_for_people() -> None:
    result = run_cli()
    assert result.returncode == 0, result.stderr
    for name in methods.METHODS:
        assert f"\n{name} " in f"\n{result.stdout}"
    assert "QLoRA (4-bit base + LoRA) [CUDA GPU only]" in result.stdout
