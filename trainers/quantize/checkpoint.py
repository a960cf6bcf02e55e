"""Reading a Hugging Face model directory one tensor at a time, and finding the layers to quantize.

Weights are never loaded whole: ``Checkpoint`` knows every tensor's file, shape and dtype from the
safetensors headers and loads one tensor on request. Which tensors are quantized comes from the
model's own modules, built on the meta device (no memory): every ``nn.Linear`` inside the decoder
layers. Embeddings, the output head and norms stay in full precision, as in GPTQ and torchao.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from trainers.spec import SpecError


@dataclass(frozen=True)
class TensorInfo:
    name: str
    file: Path
    shape: tuple[int, ...]
    dtype: str  # safetensors' name, e.g. "F32", "BF16"


class Checkpoint:
    """The safetensors weights of a model directory, in file order."""

    def __init__(self, model_dir: Path) -> None:
        self.dir = model_dir
        self.config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.tensors: dict[str, TensorInfo] = {}
        for file in weight_files(model_dir):
            with safe_open(file, framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                    piece = f.get_slice(name)
                    self.tensors[name] = TensorInfo(name, file, tuple(piece.get_shape()), piece.get_dtype())

    def load(self, name: str) -> torch.Tensor:
        with safe_open(self.tensors[name].file, framework="pt") as f:
            return f.get_tensor(name)

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Every tensor, one at a time, keeping one file open at a time."""
        by_file: dict[Path, list[str]] = {}
        for info in self.tensors.values():
            by_file.setdefault(info.file, []).append(info.name)
        for file, names in by_file.items():
            with safe_open(file, framework="pt") as f:
                for name in names:
                    yield name, f.get_tensor(name)

    @property
    def size_bytes(self) -> int:
        return sum(file.stat().st_size for file in {info.file for info in self.tensors.values()})

    @property
    def parameter_count(self) -> int:
        return sum(_numel(info.shape) for info in self.tensors.values())


def weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return [model_dir / name for name in dict.fromkeys(weight_map.values())]
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    raise SpecError(
        f"model.path: {model_dir} has no safetensors weights (model.safetensors or an index); "
        "save the model with safe_serialization=True, or pick a Hone job output"
    )


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def decoder_layers(model: Any) -> tuple[str, torch.nn.ModuleList]:
    """The repeated transformer blocks: the ModuleList holding the most parameters."""
    lists = [
        (name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList)
    ]
    if not lists:
        raise SpecError("model: found no stack of decoder layers to quantize layer by layer")
    return max(lists, key=lambda item: sum(p.numel() for p in item[1].parameters()))


def meta_model(config_dir: Path) -> Any:
    """The model's module tree with no weights (meta device): shapes and names only."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_dir)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def linear_weight_names(model: Any) -> dict[str, tuple[int, int]]:
    """``{checkpoint name: (out_features, in_features)}`` for every Linear in the decoder layers."""
    prefix, layers = decoder_layers(model)
    return {
        f"{prefix}.{i}.{name}.weight": (module.out_features, module.in_features)
        for i, layer in enumerate(layers)
        for name, module in layer.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
