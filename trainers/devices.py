"""Where a job would run, from a compute profile's fields as operators write them: GPUs (their
peak FLOP/s and memory by model name) or CPU cores, and Kubernetes quantities ("16Gi", "3500m").
No Django; trainers.estimate re-exports these for the estimate's callers."""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024**3
# Dense bf16/fp16 tensor-core peaks from the vendors' data sheets, in TFLOP/s.
GPU_PEAK_TFLOPS = {
    "h200": 989,
    "h100": 989,
    "a100": 312,
    "l40s": 362,
    "l40": 181,
    "a10g": 70,
    "a10": 125,
    "l4": 121,
    "a6000": 155,
    "v100": 125,
    "t4": 65,
}
GPU_MEMORY_GIB = {
    "h200": 141,
    "h100": 80,
    "a100": 40,
    "l40s": 48,
    "l40": 48,
    "a10g": 24,
    "a10": 24,
    "l4": 24,
    "a6000": 48,
    "v100": 16,
    "t4": 16,
}
GPU_UTILISATION = 0.3  # small-batch LoRA rarely keeps tensor cores busier than this
# Measured with bench/estimate_vs_real.py (docs/benchmarks.md): small-batch training on a CPU core
# reaches about half of what a matmul benchmark does.
CPU_FLOPS_PER_CORE = 12e9


@dataclass(frozen=True)
class Device:
    """Where a job would run: a CPU machine or GPUs, with the memory one copy of the model gets."""

    kind: str  # "gpu" or "cpu"
    memory_bytes: int | None  # per GPU, or the machine's memory limit; None when unknown
    flops: float  # usable FLOP/s for training (all GPUs together, or all cores)
    label: str  # "1 × nvidia-a100-80gb", "2 CPUs, 8Gi"


_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|m)?\s*$")
_FACTORS = {
    None: 1,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "m": 1e-3,
}


def quantity(text: str) -> float | None:
    """A Kubernetes quantity ("16Gi", "3500m", "2") as a number; None if unreadable."""
    found = _QUANTITY.match(text or "")
    if not found:
        return None
    return float(found.group(1)) * _FACTORS[found.group(2)]


def _gpu_key(gpu_type: str) -> str | None:
    name = gpu_type.lower()
    return next((key for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True) if key in name), None)


def gpu_memory_bytes(gpu_type: str) -> int | None:
    """Memory of one GPU: from a size in its name ("nvidia-a100-80gb"), else the usual model's."""
    sized = re.search(r"(\d+)\s*g(?:i)?b", gpu_type.lower())
    if sized:
        return int(sized.group(1)) * GIB
    key = _gpu_key(gpu_type)
    return GPU_MEMORY_GIB[key] * GIB if key else None


def device_for(*, gpu_type: str, gpu_count: int, cpu: str, memory: str) -> Device:
    """The device of a compute profile, from its fields as operators write them."""
    if gpu_count > 0:
        key = _gpu_key(gpu_type)
        peak = GPU_PEAK_TFLOPS.get(key, 100) * 1e12  # unknown GPUs: a mid-range card
        label = f"{gpu_count} × {gpu_type or 'GPU'}"
        return Device("gpu", gpu_memory_bytes(gpu_type), peak * GPU_UTILISATION * gpu_count, label)
    cores = quantity(cpu) or 1.0
    limit = quantity(memory)
    return Device(
        "cpu",
        int(limit) if limit else None,
        CPU_FLOPS_PER_CORE * max(cores, 1.0),
        f"{cpu} CPU{'s' if cores != 1 else ''}, {memory} memory",
    )
