"""Adapter-space merges (adapter_combine): TIES/DARE/SVD in adapter space equal peft's own
add_weighted_adapter on the real base model, and adapters of another base are refused by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.trainers.merge.conftest import Family, merge_spec, run_merge_spec


def peft_combined(base: Path, adapters: list[Path], weights: list[float], **options: object) -> dict:
    """peft itself on the full base model: load, add_weighted_adapter, return the new adapter's state."""
    from peft import PeftModel, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base), adapters[0], adapter_name="x0"
    )
    for i, path in enumerate(adapters[1:], start=1):
        model.load_adapter(path, adapter_name=f"x{i}")
    torch.manual_seed(options.pop("seed", 0))
    model.add_weighted_adapter([f"x{i}" for i in range(len(adapters))], weights, "mixed", **options)
    return get_peft_model_state_dict(model, adapter_name="mixed")


@pytest.mark.parametrize(
    "params",
    [
        {"combination": "ties", "density": 0.5},
        {"combination": "ties_svd", "density": 0.6, "svd_rank": 6, "majority_sign_method": "frequency"},
        {"combination": "dare_ties", "density": 0.7, "seed": 3},
        {"combination": "dare_linear_svd", "density": 0.5, "svd_rank": 4, "seed": 5},
        {"combination": "svd", "svd_rank": 3},
    ],
)
def test_adapter_space_merges_equal_peft_on_the_real_base(
    family: Family, adapters: dict[str, Path], tmp_path: Path, params: dict
) -> None:
    pair, weights = [adapters["a"], adapters["b"]], [0.6, 0.9]
    spec = merge_spec(
        "adapter_combine",
        list(zip(pair, weights, strict=True)),
        tmp_path / "out",
        base=family.base,
        params=params,
    )
    result = run_merge_spec(spec)
    assert result.code == 0, result.error
    options = {("combination_type" if k == "combination" else k): v for k, v in params.items()}
    want = peft_combined(family.base, pair, weights, **options)
    got = load_file(tmp_path / "out" / "adapter_model.safetensors")
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-4, msg=key)
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert config["r"] == params.get("svd_rank", 4)


def retargeted(adapter: Path, target: Path, **config: object) -> Path:
    shutil.copytree(adapter, target)
    path = target / "adapter_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | config))
    return target


def test_an_adapter_of_another_base_is_refused_naming_it(
    family: Family, adapters: dict[str, Path], tmp_path: Path
) -> None:
    other = retargeted(adapters["b"], tmp_path / "b-other", base_model_name_or_path="someone/another-base")
    spec = merge_spec("adapter_combine", [adapters["a"], other], tmp_path / "out", base=family.base)
    result = run_merge_spec(spec)
    assert result.code == 2
    assert "models[1] 'm1' was trained on 'someone/another-base' but models[0] 'm0' on" in result.error
    assert not (tmp_path / "out").exists()


def test_target_modules_as_a_pattern_and_a_list_are_refused_naming_the_pattern(
    family: Family, adapters: dict[str, Path], tmp_path: Path
) -> None:
    pattern = retargeted(adapters["b"], tmp_path / "b-pattern", target_modules=".*(q_proj|v_proj|up_proj)")
    spec = merge_spec("adapter_combine", [adapters["a"], pattern], tmp_path / "out", base=family.base)
    result = run_merge_spec(spec)
    assert result.code == 2
    assert "models[1] 'm1' names its target modules by a pattern" in result.error
