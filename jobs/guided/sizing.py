"""Sizing guidance for the pages: what a model is, what training it needs, where it fits.

Glue between the records (models, compute profiles) and ``trainers.estimate``, which does the
arithmetic. Facts read from a model's folder (config, licence) are cached by path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from jobs.models import ComputeProfile, ModelAsset
from trainers import estimate, estimate_methods, trainable
from trainers.estimate import Device, MemoryEstimate, ModelShape

LICENCE_LINE = re.compile(r"^license:\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ModelFacts:
    shape: ModelShape | None
    parameters: int | None
    licence: str  # empty when the model card names none
    max_positions: int | None


@lru_cache(maxsize=256)
def _facts_for(path: str, recorded_count: int | None) -> ModelFacts:
    config = estimate.read_config(path) if path else None
    shape = estimate.shape_from_config(config) if config else None
    parameters = recorded_count or (estimate.parameter_count(shape) if shape else None)
    return ModelFacts(shape, parameters, _licence(path), shape.max_positions if shape else None)


def _licence(path: str) -> str:
    """The ``license:`` of a Hugging Face model card's front matter, if the folder has one."""
    try:
        text = (Path(path) / "README.md").read_text(encoding="utf-8")[:4000]
    except OSError:
        return ""
    if not text.startswith("---"):
        return ""
    front = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    found = LICENCE_LINE.search(front)
    return found.group(1).strip("'\"") if found else ""


def model_facts(model: ModelAsset) -> ModelFacts:
    return _facts_for(model.path or "", model.parameter_count)


def default_profile() -> ComputeProfile | None:
    """The profile jobs run on when they name none (HONE_DEFAULT_PROFILE)."""
    return ComputeProfile.objects.filter(name=settings.HONE_DEFAULT_PROFILE).first()


def device_of(profile: ComputeProfile | None) -> Device | None:
    if profile is None:
        return None
    return estimate.device_for(
        gpu_type=profile.gpu_type, gpu_count=profile.gpu_count, cpu=profile.cpu, memory=profile.memory
    )


@dataclass(frozen=True)
class Fit:
    """Where a training run would stand on a profile: memory needed, available, and the verdict."""

    memory: MemoryEstimate
    profile: str
    device: Device | None
    fits: bool | None

    @property
    def badge(self) -> str:
        if self.fits is None:
            return f"memory of {self.profile} unknown"
        return f"fits on {self.profile}" if self.fits else f"too big for {self.profile}"

    @property
    def need_text(self) -> str:
        return estimate.human_bytes(self.memory.total)

    @property
    def available_text(self) -> str:
        if self.device is None or self.device.memory_bytes is None:
            return ""
        return estimate.human_bytes(self.device.memory_bytes)


# NF4 with double quantization stores about 4.127 bits per weight (Dettmers et al. 2023, §3).
QLORA_BITS_PER_WEIGHT = 4.127


def trainable_count(facts: ModelFacts, method: str, rank: int, params: dict | None = None) -> int | None:
    """Weights the method trains (trainers.trainable counts each method; ``rank``: the LoRA family's r
    when ``params``, the job's parameter groups, do not say)."""
    if facts.shape is None:
        return None
    groups = params or {"lora": {"r": rank}}
    return trainable.trainable_parameter_count(facts.shape, method, groups)


def training_fit(
    facts: ModelFacts,
    profile: ComputeProfile | None,
    *,
    rank: int,
    seq_len: int,
    batch_size: int,
    method: str = "lora",
    reference: bool = False,
) -> Fit | None:
    """Memory to train this model with ``method`` (LoRA-like unless "full" or "qlora"), and whether
    it fits the profile; None when the shape is unknown. ``reference``: a frozen copy of the model
    is kept too (DPO and KTO with full fine-tuning)."""
    if facts.shape is None:
        return None
    device = device_of(profile)
    kind = device.kind if device else "gpu"
    # Each method's own parts (MeZO's forward-only passes, GaLore's projected state, SpIEL's indices).
    memory = estimate_methods.method_memory(
        facts.shape, method, {"lora": {"r": rank}}, seq_len=seq_len, batch_size=batch_size, device=kind
    )
    if method == "qlora":  # the frozen base is stored in 4 bits
        weights = estimate.parameter_count(facts.shape) * QLORA_BITS_PER_WEIGHT / 8
        memory = replace(memory, weights=int(weights))
    if reference and method == "full":
        memory = replace(memory, weights=2 * memory.weights)
    verdict = estimate.fits(memory, device) if device else None
    return Fit(memory, profile.name if profile else "no profile", device, verdict)
