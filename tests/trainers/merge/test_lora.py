"""LoRA: folding adapters into their base (against peft's merge_and_unload) and combining adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.trainers.merge.conftest import Family, load_state, make_adapter, merge_spec, merged, run_merge_spec

PREFIX = "base_model.model."


def peft_merged(base: Path, adapter: Path) -> dict[str, torch.Tensor]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).merge_and_unload()
    return {k: v.detach() for k, v in model.state_dict().items()}


def assert_matches(got: dict, want: dict, atol: float = 1e-5) -> None:
    for name, tensor in got.items():
        torch.testing.assert_close(tensor, want[name], atol=atol, rtol=1e-5, msg=name)


def lora_deltas(adapter: Path) -> dict[str, torch.Tensor]:
    """scaling · B @ A for every linear target, keyed by the base tensor it changes."""
    config = json.loads((adapter / "adapter_config.json").read_text())
    state = load_file(adapter / "adapter_model.safetensors")
    deltas = {}
    for key, a in state.items():
        if key.endswith(".lora_A.weight"):
            module = key[len(PREFIX) : -len(".lora_A.weight")]
            b = state[key.replace("lora_A", "lora_B")]
            deltas[f"{module}.weight"] = config["lora_alpha"] / a.shape[0] * (b @ a)
    return deltas


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"use_rslora": True, "alpha_pattern": {"v_proj": 32}},
        {"use_dora": True},
        {"target_modules": ["embed_tokens", "q_proj"], "modules_to_save": ["lm_head"]},
    ],
    ids=["lora", "rslora-alpha-pattern", "dora", "embedding-and-modules-to-save"],
)
def test_lora_fold_equals_peft_merge_and_unload(family: Family, tmp_path: Path, options: dict) -> None:
    adapter = make_adapter(family.base, tmp_path / "adapter", seed=5, **options)
    got = merged(merge_spec("lora_fold", [adapter], tmp_path / "out", base=family.base))
    want = peft_merged(family.base, adapter)
    base = load_state(family.base)
    assert got.keys() == base.keys()
    assert_matches(got, want)
    assert any(not torch.equal(got[k], base[k]) for k in got)  # the fold changed something


def test_lora_fold_adds_several_adapters_each_scaled_by_its_weight(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    spec = merge_spec(
        "lora_fold", [(adapters["a"], 0.5), (adapters["r8"], -1.5)], tmp_path / "out", base=family.base
    )
    got = merged(spec)
    want = load_state(family.base)
    for weight, adapter in ((0.5, adapters["a"]), (-1.5, adapters["r8"])):
        for name, delta in lora_deltas(adapter).items():
            want[name] = want[name] + weight * delta
    assert_matches(got, want)


def test_adapters_are_folded_on_the_fly_as_inputs_of_model_merges(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    spec = merge_spec(
        "task_arithmetic", [(adapters["a"], 0.6), (adapters["b"], 0.9)], tmp_path / "out", base=family.base
    )
    got = merged(spec)
    base, a, b = (
        load_state(family.base),
        peft_merged(family.base, adapters["a"]),
        peft_merged(family.base, adapters["b"]),
    )
    assert_matches(got, {k: base[k] + 0.6 * (a[k] - base[k]) + 0.9 * (b[k] - base[k]) for k in base})


def combined_delta(adapter_dir: Path) -> dict[str, torch.Tensor]:
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    state = load_file(adapter_dir / "adapter_model.safetensors")
    scale = config["lora_alpha"] / config["r"]
    return {
        key[len(PREFIX) : -len(".lora_A.weight")]: scale * state[key.replace("lora_A", "lora_B")] @ a
        for key, a in state.items()
        if key.endswith(".lora_A.weight")
    }


@pytest.mark.parametrize(
    ("combination", "params", "atol"), [("cat", {}, 1e-6), ("svd", {"svd_rank": 12}, 1e-5)]
)
def test_adapter_combine_cat_and_svd_keep_the_weighted_sum_of_changes(
    family: Family, adapters: dict, tmp_path: Path, combination: str, params: dict, atol: float
) -> None:
    out = tmp_path / "out"
    spec = merge_spec(
        "adapter_combine",
        [(adapters["a"], 0.7), (adapters["r8"], 0.3)],
        out,
        base=family.base,
        params={"combination": combination, **params},
    )
    result = run_merge_spec(spec)
    assert result.code == 0, result.error
    assert result.of_kind("artifact")[0]["artifact_kind"] == "adapter"
    a, r8 = lora_deltas(adapters["a"]), lora_deltas(adapters["r8"])
    got = combined_delta(out)
    assert got
    for module, delta in got.items():
        want = 0.7 * a[f"{module}.weight"] + 0.3 * r8[f"{module}.weight"]
        torch.testing.assert_close(delta, want, atol=atol, rtol=1e-4, msg=module)


def test_adapter_combine_linear_averages_a_and_b_as_peft_does(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    spec = merge_spec(
        "adapter_combine",
        [(adapters["a"], 0.25), (adapters["b"], 0.75)],
        out,
        base=family.base,
        params={"combination": "linear"},
    )
    assert run_merge_spec(spec).code == 0
    state = load_file(out / "adapter_model.safetensors")
    inputs = [load_file(adapters[k] / "adapter_model.safetensors") for k in ("a", "b")]
    for key, value in state.items():
        # peft: each side gets sqrt(weight · scaling), so B @ A carries weight · scaling once
        want = sum((w * 8 / 4) ** 0.5 * s[key] for w, s in zip((0.25, 0.75), inputs, strict=True))
        torch.testing.assert_close(value, want, atol=1e-6, rtol=1e-5, msg=key)


def test_a_combined_adapter_loads_with_peft_and_equals_folding_both(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    pair = [(adapters["a"], 0.7), (adapters["r8"], 0.3)]
    assert (
        run_merge_spec(merge_spec("adapter_combine", pair, tmp_path / "combined", base=family.base)).code == 0
    )
    folded = merged(merge_spec("lora_fold", pair, tmp_path / "folded", base=family.base))
    assert_matches(folded, peft_merged(family.base, tmp_path / "combined"))
