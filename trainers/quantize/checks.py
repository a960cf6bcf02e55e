"""Everything a quantize job can refuse before it spends time: each refusal says what to do instead."""

from __future__ import annotations

import json
from pathlib import Path

from trainers.quantize.checkpoint import Checkpoint, linear_weight_names, meta_model
from trainers.quantize.gguf_export import check_gguf_support, plan_tensors
from trainers.quantize.gguf_vocab import check_tokenizer
from trainers.spec import SpecError
from trainers.spec_quantize import QuantizeSpec

FLOAT_DTYPES = {"F32", "F16", "BF16"}
# Tensor-name endings that quantized checkpoints (GPTQ, AWQ, torchao, compressed-tensors, bnb) use.
QUANTIZED_MARKERS = (
    "qweight",
    "qzeros",
    "g_idx",
    "weight_packed",
    "_weight_qdata",
    "weight_scale",
    "SCB",
    "quant_state.bitsandbytes__nf4",
    "absmax",
)


def check_model(spec: QuantizeSpec) -> tuple[Checkpoint, dict[str, tuple[int, int]]]:
    """The checkpoint and the Linear weights to quantize, or SpecError."""
    path = Path(spec.model.path or "")
    if not (path / "config.json").is_file():
        raise SpecError(
            f"model.path: {path} is not a model directory in Hugging Face format (no config.json)"
        )
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    refuse_quantized(config, spec.model.name)
    if not any(a.endswith("ForCausalLM") for a in config.get("architectures") or []):
        shown = ", ".join(config.get("architectures") or []) or "none named"
        raise SpecError(f"model: Hone quantizes causal language models; {spec.model.name} is {shown}")
    checkpoint = Checkpoint(path)
    refuse_quantized_tensors(checkpoint, spec.model.name)
    targets = linear_weight_names(meta_model(path))
    missing = [name for name in targets if name not in checkpoint.tensors]
    if missing:
        raise SpecError(
            f"model: the checkpoint has no tensor {missing[0]} although the model has that layer; "
            "save the model again with transformers (save_pretrained) and quantize that"
        )
    check_group_size(spec, targets)
    if spec.quantize_method.check is not None:
        spec.quantize_method.check(spec.method_params(), targets, list(spec.outputs))
    if any(output.startswith("gguf") for output in spec.outputs):
        check_gguf_support(config)
        check_tokenizer(path)
        plan_tensors(checkpoint, "Q8_0")  # names every tensor llama.cpp would not know
    return checkpoint, targets


def refuse_quantized(config: dict, name: str) -> None:
    method = (config.get("quantization_config") or {}).get("quant_method")
    if method:
        raise SpecError(
            f"model: {name} is already quantized ({method}); quantizing it again would compound the error. "
            "Quantize the full-precision model it was made from (the training or merge output)"
        )


def refuse_quantized_tensors(checkpoint: Checkpoint, name: str) -> None:
    for info in checkpoint.tensors.values():
        if info.name.endswith(QUANTIZED_MARKERS) or (
            info.name.endswith(".weight") and info.dtype not in FLOAT_DTYPES
        ):
            raise SpecError(
                f"model: {name} holds quantized weights ({info.name}, {info.dtype}); quantize the "
                "full-precision model it was made from (the training or merge output)"
            )


def check_group_size(spec: QuantizeSpec, targets: dict[str, tuple[int, int]]) -> None:
    params = spec.method_params()
    group = getattr(params, "group_size", None)
    if group is None:  # per-channel methods have no groups
        return
    for name, (_, columns) in targets.items():
        if columns % group:
            fitting = min(columns & -columns, 128)  # the largest power of two dividing columns, capped
            advice = (
                f"choose a group_size that divides {columns}, e.g. {fitting}"
                if fitting >= 16
                else ("this layer does not split into groups of 16 or more; use rtn_int8")
            )
            raise SpecError(
                f"{spec.method}.group_size: {group} does not divide the {columns} input columns of {name}; "
                + advice
            )
