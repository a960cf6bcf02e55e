"""Facts about a model directory read from its config and safetensors headers (no torch)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path

CAUSAL_LM_HINTS = ("ForCausalLM", "LMHeadModel")


@dataclass(frozen=True)
class ModelInfo:
    architecture: str
    parameter_count: int
    task: str


class ModelDirError(ValueError):
    pass


def _safetensors_numel(path: Path) -> int:
    """Sum of element counts from a safetensors header: 8-byte length, then JSON."""
    with path.open("rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return sum(prod(t["shape"]) for name, t in header.items() if name != "__metadata__")


def describe_model_dir(path: Path) -> ModelInfo:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelDirError(f"{path} has no config.json; is it a Hugging Face model directory?")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or [config.get("model_type", "unknown")])[0]
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise ModelDirError(f"{path} has no .safetensors weights")
    task = "causal-lm" if architecture.endswith(CAUSAL_LM_HINTS) else "sequence-classification"
    return ModelInfo(architecture, sum(_safetensors_numel(w) for w in weights), task)
