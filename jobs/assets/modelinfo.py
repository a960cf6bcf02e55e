"""Facts about a model directory read from its config and safetensors headers (no torch)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path

CAUSAL_LM_HINTS = ("ForCausalLM", "LMHeadModel")
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit


@dataclass(frozen=True)
class ModelInfo:
    architecture: str
    parameter_count: int
    task: str


class ModelDirError(ValueError):
    pass


def _safetensors_numel(path: Path) -> int:
    """Sum of element counts from a safetensors header: 8-byte length, then JSON."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
        length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
        if not 0 < length <= min(size - 8, MAX_HEADER_BYTES):
            raise ModelDirError(f"{path.name} is not a safetensors file (bad header length)")
        try:
            header = json.loads(fh.read(length))
            return sum(prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ModelDirError(f"{path.name} has an unreadable safetensors header: {exc}") from None


def safetensors_parameter_count(path: Path) -> int | None:
    """Parameters stored in a file or a directory of safetensors; None if there are none."""
    files = [path] if path.is_file() else sorted(path.glob("*.safetensors"))
    files = [f for f in files if f.suffix == ".safetensors"]
    return sum(_safetensors_numel(f) for f in files) if files else None


def describe_model_dir(path: Path) -> ModelInfo:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelDirError(f"{path} has no config.json; is it a Hugging Face model directory?")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or [config.get("model_type", "unknown")])[0]
    count = safetensors_parameter_count(path)
    if count is None:
        raise ModelDirError(f"{path} has no .safetensors weights")
    task = "causal-lm" if architecture.endswith(CAUSAL_LM_HINTS) else "sequence-classification"
    return ModelInfo(architecture, count, task)
