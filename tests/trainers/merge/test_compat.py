"""Bad input is refused before any work (exit 2, nothing written), with a message that says what to do."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.trainers.merge.conftest import Family, copy_support, load_state, merge_spec, run_merge_spec


def refused(spec: dict) -> str:
    """Run the spec; it must fail with exit 2 before any tensor was merged. Returns the error."""
    result = run_merge_spec(spec)
    assert result.code == 2, result.events
    assert not result.of_kind("progress") and not result.of_kind("artifact")
    out = Path(spec["output_dir"])
    assert not out.exists() or not list(out.glob("*.safetensors*"))
    return result.error


def edited_copy(source: Path, target: Path, *, config: dict | None = None, state=None) -> Path:
    """A copy of ``source`` with config keys changed and/or its weights replaced."""
    copy_support(source, target)
    if config is not None:
        data = json.loads((target / "config.json").read_text())
        data.update(config)
        (target / "config.json").write_text(json.dumps(data))
    tensors = state if state is not None else load_state(source)
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})
    return target


def file_order(model_dir: Path) -> list[str]:
    """Tensor names in the order they are stored in model.safetensors (read from its header)."""
    raw = (model_dir / "model.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__", None)
    return sorted(header, key=lambda name: header[name]["data_offsets"][0])


@pytest.fixture(scope="module")
def other_size(family: Family) -> Path:
    from trainers.tiny import build_tiny_llama

    return build_tiny_llama(family.root / "other-size", hidden_size=32)


def test_models_of_another_size_are_refused_naming_the_first_tensor_that_differs(
    family: Family, other_size: Path, tmp_path: Path
) -> None:
    mine, theirs = load_state(family.tunes[0]), load_state(other_size)
    first = next(name for name in file_order(family.tunes[0]) if mine[name].shape != theirs[name].shape)
    error = refused(merge_spec("linear", [family.tunes[0], other_size], tmp_path / "out"))
    assert f"tensor {first} has shape {list(theirs[first].shape)} in models[1] 'm1'" in error
    assert "merge only models fine-tuned from the same base model" in error


def test_a_missing_tensor_is_named(family: Family, tmp_path: Path) -> None:
    state = load_state(family.tunes[1])
    del state["model.layers.1.mlp.down_proj.weight"]
    partial = edited_copy(family.tunes[1], tmp_path / "partial", state=state)
    error = refused(merge_spec("ties", [family.tunes[0], partial], tmp_path / "out", base=family.base))
    assert (
        "tensor model.layers.1.mlp.down_proj.weight is in base_model 'base' but missing from models[1] 'm1'"
        in error
    )


def test_another_tokenizer_is_refused_even_when_shapes_match(family: Family, tmp_path: Path) -> None:
    from trainers.tiny import build_tiny_llama

    other = build_tiny_llama(tmp_path / "other-tok", corpus=[f"word{i} zebra quartz" for i in range(300)])
    error = refused(merge_spec("linear", [family.tunes[0], other], tmp_path / "out"))
    assert "models[1] 'm1' uses a different tokenizer: token id" in error


def test_another_architecture_is_refused(family: Family, tmp_path: Path) -> None:
    mistral = edited_copy(
        family.tunes[1],
        tmp_path / "mistral",
        config={"architectures": ["MistralForCausalLM"], "model_type": "mistral"},
    )
    error = refused(merge_spec("linear", [family.tunes[0], mistral], tmp_path / "out"))
    assert (
        "models[1] 'm1' is a MistralForCausalLM (mistral) but models[0] 'm0' is a LlamaForCausalLM (llama)"
        in error
    )


def test_tied_and_untied_embeddings_are_refused(family: Family, tmp_path: Path) -> None:
    state = load_state(family.tunes[1])
    del state["lm_head.weight"]
    tied = edited_copy(family.tunes[1], tmp_path / "tied", config={"tie_word_embeddings": True}, state=state)
    error = refused(merge_spec("linear", [family.tunes[0], tied], tmp_path / "out"))
    assert error.startswith(
        "SpecError: tensor lm_head.weight: models[1] 'm1' ties its output layer to the embeddings"
    )


@pytest.mark.parametrize("how", ["config", "int8 weights"])
def test_a_quantized_input_is_refused(family: Family, tmp_path: Path, how: str) -> None:
    if how == "config":
        quantized = edited_copy(
            family.tunes[1],
            tmp_path / "q",
            config={"quantization_config": {"quant_method": "gptq", "bits": 4}},
        )
    else:
        state = load_state(family.tunes[1])
        state["model.layers.0.mlp.up_proj.weight"] = state["model.layers.0.mlp.up_proj.weight"].to(torch.int8)
        quantized = edited_copy(family.tunes[1], tmp_path / "q", state=state)
    error = refused(merge_spec("linear", [family.tunes[0], quantized], tmp_path / "out"))
    assert "models[1] 'm1' is quantized" in error
    assert "merge the original unquantized models, then quantize the result with a quantize job" in error


def test_a_merge_of_one_model_is_refused(family: Family, tmp_path: Path) -> None:
    error = refused(merge_spec("linear", [family.tunes[0]], tmp_path / "out"))
    assert "models: linear needs at least 2 models, got 1; add another" in error


def test_slerp_takes_exactly_two(family: Family, tmp_path: Path) -> None:
    error = refused(merge_spec("slerp", family.tunes, tmp_path / "out"))
    assert "slerp takes at most 2 models, got 3; use linear or ties to merge more" in error


@pytest.mark.parametrize(
    ("method", "weights", "params", "message"),
    [
        (
            "linear",
            [1.0, -0.5],
            {},
            "models.1.weight: weights are mixing proportions here and must be >= 0; "
            "to subtract a model use task_arithmetic",
        ),
        (
            "linear",
            [1.0, 2.0],
            {"normalize": False},
            "with params.normalize off the weights must sum to 1 but sum to 3",
        ),
        ("linear", [0.0, 0.0], {}, "every weight is 0"),
        ("task_arithmetic", [0.0, 0.0], {}, "every weight is 0"),
        ("ties", [1.0, -1.0], {}, "turn params.normalize off to subtract a model"),
        ("slerp", [0.5, 0.5], {}, "models.0.weight: slerp takes no per-model weights; remove it"),
    ],
)
def test_weights_that_do_not_make_sense_are_refused(
    family: Family, tmp_path: Path, method: str, weights: list, params: dict, message: str
) -> None:
    spec = merge_spec(
        method,
        list(zip(family.tunes, weights, strict=False)),
        tmp_path / "out",
        base=family.base,
        params=params,
    )
    assert message in refused(spec)


@pytest.mark.parametrize("method", ["ties", "dare_ties", "dare_linear", "breadcrumbs"])
@pytest.mark.parametrize("density", [0, -0.1, 1.5])
def test_a_density_outside_zero_to_one_is_refused(
    family: Family, tmp_path: Path, method: str, density: float
) -> None:
    spec = merge_spec(
        method, family.tunes[:2], tmp_path / "out", base=family.base, params={"density": density}
    )
    error = refused(spec)
    share = "density is the share of each model's changes to keep"
    assert f"params.density: {share} and must be in (0, 1], got {density}" in error
    assert "use 1 to keep every change" in error


def test_an_unknown_method_lists_the_known_ones(family: Family, tmp_path: Path) -> None:
    error = refused(merge_spec("frankenmerge", family.tunes[:2], tmp_path / "out"))
    assert (
        "method: unknown merge method 'frankenmerge'; known methods: linear, greedy_soup, task_arithmetic"
        in error
    )


def test_unknown_parameters_are_refused(family: Family, tmp_path: Path) -> None:
    error = refused(
        merge_spec("ties", family.tunes[:2], tmp_path / "out", base=family.base, params={"k": 0.2})
    )
    assert "params.k: Extra inputs are not permitted" in error


def test_task_vector_methods_need_a_base(family: Family, tmp_path: Path) -> None:
    error = refused(merge_spec("ties", family.tunes[:2], tmp_path / "out"))
    assert "base_model: ties needs base_model: the model the others were fine-tuned from" in error


def test_an_adapter_without_its_base_is_refused(family: Family, adapters: dict, tmp_path: Path) -> None:
    error = refused(merge_spec("linear", [family.tunes[0], adapters["a"]], tmp_path / "out"))
    assert "models[1] 'm1' is a LoRA adapter; set base_model to the model it was trained from" in error


def test_lora_fold_refuses_a_full_model(family: Family, tmp_path: Path) -> None:
    error = refused(merge_spec("lora_fold", [family.tunes[0]], tmp_path / "out", base=family.base))
    assert "models[0] 'm0' is a full model, but lora_fold takes LoRA adapters" in error


def test_an_adapter_on_the_wrong_base_names_the_first_tensor(
    adapters: dict, other_size: Path, tmp_path: Path
) -> None:
    error = refused(merge_spec("lora_fold", [adapters["a"]], tmp_path / "out", base=other_size))
    first = next(
        name
        for name in file_order(other_size)
        if name.endswith(("q_proj.weight", "v_proj.weight", "up_proj.weight"))
    )
    assert first == "model.layers.0.mlp.up_proj.weight"  # the base's file order, not the adapter's
    assert (
        f"tensor {first}: models[0] 'm0' changes it with shape [128, 64] but it is [64, 32] in base_model "
        "'base'; set base_model to the model the adapter was trained from" in error
    )


def test_combining_adapters_of_different_ranks_linearly_is_refused(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    spec = merge_spec(
        "adapter_combine",
        [adapters["a"], adapters["r8"]],
        tmp_path / "out",
        base=family.base,
        params={"combination": "linear"},
    )
    assert (
        "params.combination: linear needs adapters of one rank, these have r = 4, 8; use cat or svd"
        in refused(spec)
    )


def test_inputs_that_are_not_safetensors_models_are_refused(family: Family, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    copy_support(family.tunes[1], pickled)
    torch.save(load_state(family.tunes[1]), pickled / "pytorch_model.bin")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    cases = [
        (
            pickled,
            "has PyTorch pickle weights only; re-save it with save_pretrained(..., safe_serialization=True)",
        ),
        (gguf, "is a GGUF export, which is quantized; merge the original model instead"),
        (tmp_path / "nowhere", "does not exist or is not a directory"),
    ]
    for path, message in cases:
        assert message in refused(merge_spec("linear", [family.tunes[0], path], tmp_path / "out"))


def test_a_truncated_weights_file_is_refused(family: Family, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(family.tunes[1], broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    error = refused(merge_spec("linear", [family.tunes[0], broken], tmp_path / "out"))
    assert "is truncated" in error


def test_writing_into_an_input_is_refused(family: Family, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    shutil.copytree(family.tunes[1], victim)
    result = run_merge_spec(merge_spec("linear", [family.tunes[0], victim], victim))
    assert result.code == 2 and not result.of_kind("progress")
    assert "output_dir" in result.error and "choose a new directory" in result.error
    assert torch.equal(load_state(victim)["lm_head.weight"], load_state(family.tunes[1])["lm_head.weight"])


def test_a_hub_base_that_is_not_cached_while_offline_is_refused(
    family: Family, adapters: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    spec = merge_spec("lora_fold", [adapters["a"]], tmp_path / "out")
    spec["base_model"] = {"name": "llama", "hub_id": "hone-tests/no-such-model"}
    error = refused(spec)
    assert "base_model: hone-tests/no-such-model is not in the local cache and the hub is off" in error
    assert "give a local path instead" in error
