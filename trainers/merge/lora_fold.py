"""Fold LoRA adapters into their base: peft's ``merge_and_unload``, one tensor at a time.

The base is streamed tensor by tensor; a tensor an adapter changes gets ``W + weight · scaling · B @ A``
(see adapters.py), everything else is copied as it is. The whole base is never in memory, and no
model class is built, so this works for any architecture peft saved the adapter for.
Several adapters can be folded at once: their changes add up, each scaled by its weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch

    from trainers.merge.engine import MergeJob


class LoraFoldParams(MethodParams):
    """Folding takes no parameters: each adapter's weight (default 1) scales its change."""


def _as_read(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    params: object,
    rng: torch.Generator,
) -> torch.Tensor:
    return tensors[0]  # the folded source did the work as the tensor was read


def run_lora_fold(job: MergeJob) -> None:
    from trainers.merge.adapters import FoldedSource
    from trainers.merge.engine import merge_tensors

    assert job.base is not None
    adapters = [(job.adapters[i], job.weights[i]) for i in range(len(job.models))]
    folded = FoldedSource(job.base.label, job.base, adapters)
    merge_tensors(job, job.out_dir, _as_read, [folded], None, [1.0])


METHOD = MergeMethod(
    name="lora_fold",
    title="Fold LoRA into base",
    help="Merges LoRA adapters into their base model's weights, giving a standalone model.",
    paper="https://arxiv.org/abs/2106.09685",
    params=LoraFoldParams,
    min_models=1,
    needs_base=True,
    weights="signed",
    inputs="adapters",
    run=run_lora_fold,
)
