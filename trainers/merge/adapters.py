"""LoRA adapters read tensor by tensor, and a base model with adapters folded in on the fly.

Folding is peft's ``merge_and_unload`` one weight at a time: for a LoRA target
``W' = W + scaling · B @ A`` (transposed for embeddings and ``fan_in_fan_out`` layers), with
``scaling = alpha / r`` (``alpha / sqrt(r)`` for rsLoRA, ``alpha`` from ``alpha_pattern`` where it
matches); for DoRA ``W' = m / ‖W + ΔW‖_row · (W + ΔW)``. Tensors an adapter saved whole
(``modules_to_save``, saved embedding layers) replace the base tensor. Only the base tensor being
written and that target's A and B are in memory at a time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainers.merge.inputs import AdapterDir, ModelDir
from trainers.merge.stream import TensorInfo
from trainers.spec import SpecError

if TYPE_CHECKING:
    import torch

PREFIX = "base_model.model."
_ROLES = (
    (".lora_A.weight", "A", False),
    (".lora_B.weight", "B", False),
    (".lora_embedding_A", "A", True),
    (".lora_embedding_B", "B", True),
    (".lora_magnitude_vector.weight", "M", False),
    (".lora_magnitude_vector", "M", False),
)


@dataclass(frozen=True)
class LoraTarget:
    tensor: str  # the base tensor it changes, e.g. "model.layers.0.self_attn.q_proj.weight"
    a: str
    b: str
    embedding: bool
    scaling: float
    magnitude: str | None = None  # DoRA


class LoraAdapter:
    """The targets of one adapter, keyed by the base tensor each one changes."""

    def __init__(self, adapter: AdapterDir) -> None:
        self.dir = adapter
        self.fan_in_fan_out = bool(adapter.config.get("fan_in_fan_out"))
        _check_supported(adapter)
        self.targets, self.replacements = _parse(adapter)

    @property
    def label(self) -> str:
        return self.dir.label

    @property
    def touched(self) -> set[str]:
        return set(self.targets) | set(self.replacements)

    @property
    def uses_dora(self) -> bool:
        return any(t.magnitude for t in self.targets.values())

    def delta_shape(self, target: LoraTarget) -> tuple[int, ...]:
        a, b = self.dir.weights.tensors[target.a].shape, self.dir.weights.tensors[target.b].shape
        shape = (a[1], b[0]) if target.embedding else (b[0], a[1])
        return shape[::-1] if self.fan_in_fan_out and not target.embedding else shape

    def delta(self, target: LoraTarget) -> torch.Tensor:
        """scaling · B @ A in float32, laid out like the base weight."""
        a = self.dir.weights.read(target.a).float()
        b = self.dir.weights.read(target.b).float()
        delta = (b @ a).mul_(target.scaling)
        return delta.T if target.embedding or self.fan_in_fan_out else delta

    def fold(self, name: str, weight: torch.Tensor, scale: float) -> torch.Tensor:
        """``weight`` (float32, owned) with this adapter's change to ``name`` applied ``scale`` times."""
        if name in self.replacements:  # a layer saved whole; a saved embedding may have LoRA on top too
            whole = self.dir.weights.read(self.replacements[name]).float()
            weight = weight.add_(whole.sub_(weight), alpha=scale)
        target = self.targets.get(name)
        if target is None:
            return weight
        delta = self.delta(target)
        if target.magnitude is None:
            return weight.add_(delta, alpha=scale)
        merged = weight.add_(delta)  # DoRA (scale is 1: checked before any work)
        magnitude = self.dir.weights.read(target.magnitude).float()
        rows = merged.T if self.fan_in_fan_out else merged
        rows.mul_((magnitude / rows.norm(dim=1)).unsqueeze(1))
        return merged


def _check_supported(adapter: AdapterDir) -> None:
    cfg, label = adapter.config, adapter.label
    kind = cfg.get("peft_type", "LORA")
    if kind != "LORA":
        raise SpecError(f"{label}: only LoRA adapters can be merged, this one is {kind}")
    if cfg.get("lora_bias") or cfg.get("trainable_token_indices") or cfg.get("target_parameters"):
        raise SpecError(
            f"{label}: adapters with lora_bias, trainable_token_indices or target_parameters are not "
            "supported; load it with peft and save the merged model instead"
        )


def _parse(adapter: AdapterDir) -> tuple[dict[str, LoraTarget], dict[str, str]]:
    pieces: dict[str, dict[str, str]] = {}
    embedding: set[str] = set()
    replacements: dict[str, str] = {}
    for key in adapter.weights.tensors:
        if not key.startswith(PREFIX):
            raise SpecError(f"{adapter.label}: tensor {key} is not in peft's layout (expected '{PREFIX}…')")
        rest = key[len(PREFIX) :]
        for suffix, role, is_embedding in _ROLES:
            if rest.endswith(suffix):
                module = rest[: -len(suffix)]
                pieces.setdefault(module, {})[role] = key
                if is_embedding:
                    embedding.add(module)
                break
        else:
            if ".lora_" in rest:
                raise SpecError(f"{adapter.label}: tensor {key} is of a LoRA kind Hone cannot fold")
            replacements[rest.replace(".base_layer.", ".")] = key
    targets = {}
    for module, roles in pieces.items():
        if "A" not in roles or "B" not in roles:
            raise SpecError(
                f"{adapter.label}: {module} has only part of its LoRA pair; the adapter is incomplete"
            )
        rank = adapter.weights.tensors[roles["A"]].shape[0]
        scaling = _scaling(adapter.config, module, rank)
        targets[f"{module}.weight"] = LoraTarget(
            f"{module}.weight", roles["A"], roles["B"], module in embedding, scaling, roles.get("M")
        )
    return targets, replacements


def _pattern_value(patterns: dict, module: str, default: float) -> float:
    """peft's ``get_pattern_key``: a pattern matches the module name or its dotted suffix."""
    for pattern, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({pattern})$", module):
            return value
    return default


def _scaling(config: dict, module: str, rank: int) -> float:
    alpha = _pattern_value(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8))
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


class FoldedSource:
    """A base model as if ``adapters`` had been merged into it: same tensors, changed on read."""

    def __init__(self, label: str, base: ModelDir, adapters: list[tuple[LoraAdapter, float]]) -> None:
        self.label = label
        self.base = base
        self.adapters = adapters
        self.tensors: dict[str, TensorInfo] = base.weights.tensors

    def read(self, name: str) -> torch.Tensor:
        tensor = self.base.weights.read(name)
        touching = [(a, w) for a, w in self.adapters if name in a.touched]
        if not touching:
            return tensor
        weight = tensor.float()
        for adapter, scale in touching:
            weight = adapter.fold(name, weight, scale)
        return weight
