"""LoRA extraction: a full fine-tune becomes an adapter peft loads, with its reconstruction error reported."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from tests.trainers.merge.conftest import Family, load_state, merge_spec, merged, run_merge_spec


def extract_spec(tuned: Path, out: Path, base: Path, rank: int) -> dict:
    return merge_spec("lora_extract", [tuned], out, base=base, params={"rank": rank})


def test_a_low_rank_fine_tune_is_extracted_exactly_and_peft_loads_it(
    family: Family, adapters: dict[str, Path], tmp_path: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    # A fine-tune whose change is exactly rank 4 in q, v and up: adapter "a" folded into the base.
    folded = tmp_path / "folded"
    merged(merge_spec("lora_fold", [adapters["a"]], folded, base=family.base))
    result = run_merge_spec(extract_spec(folded, tmp_path / "extracted", family.base, rank=4))
    assert result.code == 0, result.error
    metrics = {e["name"]: e["value"] for e in result.of_kind("metric")}
    assert metrics["reconstruction_error"] < 1e-5
    assert metrics["change_outside_adapter"] < 1e-10
    assert result.of_kind("artifact")[0]["artifact_kind"] == "adapter"

    config = json.loads((tmp_path / "extracted" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4
    assert all(name.split(".")[-1] in ("q_proj", "v_proj", "up_proj") for name in config["target_modules"])
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(family.base), tmp_path / "extracted"
    )
    reference = AutoModelForCausalLM.from_pretrained(folded)
    ids = torch.tensor([[1, 5, 9, 30, 2, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, atol=1e-4, rtol=1e-4)


def test_the_reported_error_is_the_dropped_singular_values_share(family: Family, tmp_path: Path) -> None:
    result = run_merge_spec(extract_spec(family.tunes[0], tmp_path / "out", family.base, rank=8))
    assert result.code == 0, result.error
    metrics = {e["name"]: e["value"] for e in result.of_kind("metric")}
    base, tune = load_state(family.base), load_state(family.tunes[0])
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    kept = total = other = 0.0
    for name, b in base.items():
        delta = (tune[name] - b).double()
        if name.removesuffix(".weight") in config["target_modules"]:
            s = torch.linalg.svdvals(delta)
            kept, total = kept + float(s[:8].square().sum()), total + float(s.square().sum())
        else:
            other += float(delta.square().sum())
    assert len(config["target_modules"]) == 2 * 7 + 2  # 7 linear layers per block, lm_head, embed_tokens
    assert math.isclose(metrics["reconstruction_error"], math.sqrt((total - kept) / total), rel_tol=1e-6)
    assert math.isclose(metrics["change_outside_adapter"], other / (total + other), rel_tol=1e-6)
    assert 0 < metrics["reconstruction_error"] < 1
    card = (tmp_path / "out" / "README.md").read_text()
    assert "relative reconstruction error" in card and "library_name: peft" in card


def test_a_low_rank_embedding_change_is_extracted_too_unless_turned_off(
    family: Family, adapters: dict[str, Path], tmp_path: Path
) -> None:
    from peft import PeftModel
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    tuned = tmp_path / "tuned"
    merged(merge_spec("lora_fold", [adapters["a"]], tuned, base=family.base))
    state = load_state(tuned)
    noise = torch.Generator().manual_seed(4)
    embed = state["model.embed_tokens.weight"]  # [vocab, hidden], changed at rank 2
    embed += (
        torch.randn(embed.shape[0], 2, generator=noise)
        @ torch.randn(2, embed.shape[1], generator=noise)
        * 0.01
    )
    save_file(state, tuned / "model.safetensors", metadata={"format": "pt"})

    result = run_merge_spec(extract_spec(tuned, tmp_path / "with", family.base, rank=4))
    assert result.code == 0, result.error
    metrics = {e["name"]: e["value"] for e in result.of_kind("metric")}
    assert metrics["reconstruction_error"] < 1e-5 and metrics["change_outside_adapter"] < 1e-10
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(family.base), tmp_path / "with")
    reference = AutoModelForCausalLM.from_pretrained(tuned)
    ids = torch.tensor([[1, 5, 9, 30, 2, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, atol=1e-4, rtol=1e-4)

    spec = merge_spec(
        "lora_extract",
        [tuned],
        tmp_path / "without",
        base=family.base,
        params={"rank": 4, "embeddings": False},
    )
    result = run_merge_spec(spec)
    assert result.code == 0, result.error
    metrics = {e["name"]: e["value"] for e in result.of_kind("metric")}
    assert metrics["change_outside_adapter"] > 0.01
    assert (
        "model.embed_tokens"
        not in json.loads((tmp_path / "without" / "adapter_config.json").read_text())["target_modules"]
    )


def test_a_wider_rank_than_a_layer_keeps_that_layers_full_rank(family: Family, tmp_path: Path) -> None:
    result = run_merge_spec(extract_spec(family.tunes[1], tmp_path / "out", family.base, rank=100))
    assert result.code == 0, result.error
    metrics = {e["name"]: e["value"] for e in result.of_kind("metric")}
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert config["rank_pattern"]["model.layers.0.self_attn.q_proj"] == 64
    assert metrics["reconstruction_error"] < 1e-6  # every layer is at most 64 wide: nothing dropped


def test_it_refuses_an_adapter_as_the_fine_tune(
    family: Family, adapters: dict[str, Path], tmp_path: Path
) -> None:
    result = run_merge_spec(extract_spec(adapters["a"], tmp_path / "out", family.base, rank=4))
    assert result.code == 2
    assert "models[0] 'm0' is already a LoRA adapter" in result.error
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_it_refuses_a_model_that_is_not_a_fine_tune_of_the_base(family: Family, tmp_path: Path) -> None:
    from trainers.tiny import build_tiny_llama

    other = build_tiny_llama(tmp_path / "other", hidden_size=32, seed=3)
    result = run_merge_spec(extract_spec(other, tmp_path / "out", family.base, rank=4))
    assert result.code == 2 and "models[0] 'm0'" in result.error
