"""The merge job every method works on, and the tensor-wise loop most methods run through.

The loop reads one output tensor's inputs, merges, casts, writes it to its planned place in the
output shards, reports progress, and lets go of it before the next: peak memory is a few tensors
of the largest size, whatever the size of the models.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trainers.events import EventEmitter
from trainers.merge.adapters import FoldedSource, LoraAdapter
from trainers.merge.inputs import Input, ModelDir
from trainers.merge.method import MergeMethod, TensorMerge
from trainers.merge.params import MethodParams
from trainers.merge.stream import (
    CODE_OF_TORCH_NAME,
    DTYPES,
    PlannedTensor,
    ShardWriter,
    TensorInfo,
    remove_weights,
)

if TYPE_CHECKING:
    import torch

    from trainers.spec_merge import MergeSpec

MIB = 1024 * 1024


class Source(Protocol):
    """Anything that hands out a model's tensors one at a time."""

    tensors: dict[str, TensorInfo]

    def read(self, name: str) -> torch.Tensor: ...


class Progress:
    """One ``progress`` event per tensor written, with an ETA from the bytes done so far."""

    def __init__(self, emitter: EventEmitter, total: int) -> None:
        self.emitter = emitter
        self.total = total
        self.done = 0
        self._started = time.monotonic()

    def advance(self, tensor: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self._started
        eta = elapsed / self.done * max(self.total - self.done, 0)
        self.emitter.emit(
            "progress",
            step=self.done,
            total=max(self.total, self.done),
            eta_seconds=round(eta, 1),
            tensor=tensor,
        )


@dataclass
class MergeJob:
    spec: MergeSpec
    method: MergeMethod
    params: MethodParams
    models: list[Input]
    base: ModelDir | None
    adapters: dict[int, LoraAdapter]  # models[i] that are LoRA adapters, parsed
    weights: list[float]
    out_dir: Path
    emitter: EventEmitter
    progress: Progress
    prepared: Any = None  # what the method's preflight found (e.g. greedy soup's held-out texts)
    notes: list[str] = field(default_factory=list)  # extra lines for the model card

    def source(self, i: int) -> Source:
        """models[i] as full weights: an adapter is folded into the base as it is read."""
        if i in self.adapters:
            assert self.base is not None  # compat refuses adapters without a base
            return FoldedSource(self.models[i].label, self.base, [(self.adapters[i], 1.0)])
        return self.models[i].weights

    @property
    def base_source(self) -> Source | None:
        return self.base.weights if self.base is not None else None

    def tensor_count(self) -> int:
        return len((self.base_source or self.source(0)).tensors)


class LazyInputs(Sequence):
    """``inputs[i]`` reads model i's copy of one tensor from disk, in the compute dtype."""

    def __init__(self, sources: Sequence[Source], name: str, compute: torch.dtype) -> None:
        self._sources, self._name, self._compute = sources, name, compute

    def __len__(self) -> int:
        return len(self._sources)

    def __getitem__(self, i: int) -> torch.Tensor:  # type: ignore[override]
        return self._sources[i].read(self._name).to(self._compute)


def plan_output(reference: Source, dtype: str) -> list[PlannedTensor]:
    """Every output tensor in the reference's order; floats take ``dtype`` unless it is "auto"."""
    code = None if dtype == "auto" else CODE_OF_TORCH_NAME[dtype]
    return [
        PlannedTensor(info.name, code if code and info.is_float else info.dtype, info.shape)
        for info in reference.tensors.values()
    ]


def tensor_generator(seed: int, name: str) -> torch.Generator:
    """A generator of its own for each tensor: results do not depend on the order tensors are merged."""
    import torch

    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def merge_tensors(
    job: MergeJob,
    out_dir: Path,
    fn: TensorMerge,
    sources: Sequence[Source],
    base: Source | None,
    weights: list[float],
) -> list[Path]:
    """Run ``fn`` over every tensor and write the results as sharded safetensors in ``out_dir``.

    (A writer thread overlapping writes with merging was tried: no faster on two busy cores, and one
    more tensor in memory.)
    """
    reference = base or sources[0]
    planned = plan_output(reference, job.spec.dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_weights(out_dir)
    writer = ShardWriter(out_dir, planned, job.spec.shard_size_mb * MIB)
    seed = getattr(job.params, "seed", 0)
    try:
        for item in planned:
            writer.write(item.name, _merge_one(item, reference, fn, sources, base, weights, job.params, seed))
            job.progress.advance(item.name)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def _merge_one(
    item: PlannedTensor,
    reference: Source,
    fn: TensorMerge,
    sources: Sequence[Source],
    base: Source | None,
    weights: list[float],
    params: MethodParams,
    seed: int,
) -> torch.Tensor:
    """One output tensor, in its planned dtype."""
    import torch

    info = reference.tensors[item.name]
    if info.is_float:
        compute = torch.float64 if info.dtype == "F64" else torch.float32
        base_tensor = base.read(item.name).to(compute) if base is not None else None
        inputs = LazyInputs(sources, item.name, compute)
        merged = fn(inputs, base_tensor, weights, params, tensor_generator(seed, item.name))
    else:  # integer buffers (e.g. position ids) pass through from the reference
        merged = reference.read(item.name)
    return merged.to(getattr(torch, DTYPES[item.dtype][0]))


def run_tensorwise(job: MergeJob) -> None:
    """A method that is one function per tensor: every input, the base if any, into ``job.out_dir``."""
    assert job.method.merge_tensor is not None
    sources = [job.source(i) for i in range(len(job.models))]
    uses_base = job.method.needs_base or job.method.uses_base
    base = job.base_source if uses_base else None  # a base given only to fold adapters is not read
    merge_tensors(job, job.out_dir, job.method.merge_tensor, sources, base, job.weights)
