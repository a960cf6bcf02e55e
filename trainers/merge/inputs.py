"""What a merge reads: full models and LoRA adapters on disk, described without loading weights.

``describe`` looks at a directory (config, safetensors headers) and says what it is; every
problem found here is a ``SpecError`` that names the input the way the user named it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from trainers.merge.stream import WeightReader, weight_files
from trainers.spec import ModelRef, SpecError

log = logging.getLogger("trainers")

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# Files that travel with a model so the output tokenizes like its inputs.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)


@dataclass
class ModelDir:
    """A full model in Hugging Face format with safetensors weights."""

    label: str  # how messages name it, e.g. "models[1] 'sft-a'"
    path: Path
    config: dict
    weights: WeightReader


@dataclass
class AdapterDir:
    """A peft LoRA adapter: adapter_config.json + adapter_model.safetensors."""

    label: str
    path: Path
    config: dict
    weights: WeightReader


Input = ModelDir | AdapterDir


def describe(label: str, path_text: str) -> Input:
    path = Path(path_text)
    if path.is_file() and path.suffix == ".gguf":
        raise SpecError(
            f"{label}: {path} is a GGUF export, which is quantized; merge the original model instead"
        )
    if not path.is_dir():
        raise SpecError(
            f"{label}: {path} does not exist or is not a directory; pick a model or adapter directory"
        )
    if (path / ADAPTER_CONFIG).is_file():
        return _adapter(label, path)
    if (path / "config.json").is_file():
        return _model(label, path)
    raise SpecError(
        f"{label}: {path} is neither a model (no config.json) nor a LoRA adapter (no {ADAPTER_CONFIG}); "
        "pick a directory saved with save_pretrained"
    )


def _read_json(label: str, path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"{label}: {path.name} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{label}: {path.name} must hold a JSON object")
    return data


def _model(label: str, path: Path) -> ModelDir:
    files = weight_files(path)
    if not files:
        if list(path.glob("*.gguf")):
            raise SpecError(
                f"{label}: {path} holds a GGUF export, which is quantized; merge the original model"
            )
        if list(path.glob("*.bin")) or list(path.glob("*.pt")):
            raise SpecError(
                f"{label}: {path} has PyTorch pickle weights only; re-save it with "
                "save_pretrained(..., safe_serialization=True) to get safetensors, then merge"
            )
        raise SpecError(f"{label}: {path} has no safetensors weights (model.safetensors or an index)")
    return ModelDir(label, path, _read_json(label, path / "config.json"), WeightReader(files))


def _adapter(label: str, path: Path) -> AdapterDir:
    config = _read_json(label, path / ADAPTER_CONFIG)
    weights = path / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise SpecError(
            f"{label}: {path} has no {ADAPTER_WEIGHTS}; re-save the adapter with safe_serialization=True"
        )
    return AdapterDir(label, path, config, WeightReader([weights]))


def resolve_base(ref: ModelRef) -> Path:
    """A local directory for the base model: its path, or a hub download (weights and tokenizer only)."""
    if ref.path:
        return Path(ref.path)
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]
    try:
        return Path(snapshot_download(ref.hub_id, revision=ref.revision, allow_patterns=patterns))
    except (GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise SpecError(f"base_model: {ref.hub_id} cannot be downloaded ({type(exc).__name__})") from exc
    except LocalEntryNotFoundError as exc:
        if constants.HF_HUB_OFFLINE:
            raise SpecError(
                f"base_model: {ref.hub_id} is not in the local cache and the hub is off (HF_HUB_OFFLINE); "
                "give a local path instead"
            ) from exc
        raise  # the hub is unreachable right now: worth a retry


def close_all(inputs: list[Input | None]) -> None:
    for item in inputs:
        if item is not None:
            item.weights.close()
