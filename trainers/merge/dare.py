"""DARE: drop each task-vector entry at random (keep with probability ``density``), rescale, then combine.

Two configured variants: ``dare_linear`` adds the thinned task vectors (as task arithmetic does),
``dare_ties`` elects signs first (as TIES does). Rescaling keeps each task vector's L1 norm, which
is 1/density in expectation (the paper's rescale), as mergekit does.

Seeding: each tensor draws from its own generator, seeded from (seed, tensor name), with one
``torch.rand`` per model in model order (an entry is kept where the draw is below ``density``).
The result is the same for a given spec regardless of sharding or the order tensors are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import (
    NORMALIZE_HELP,
    SEED_HELP,
    Density,
    MethodParams,
    density_field,
    scaling_field,
)
from trainers.merge.taskvec import combine_task_vectors, random_drop

if TYPE_CHECKING:
    import torch


class DareParams(MethodParams):
    density: Density = density_field(
        0.5, "Chance that each changed weight is kept; the rest are reset to the base."
    )
    rescale: bool = Field(
        True, description="Scale what is kept back up so each model's total change is preserved."
    )
    normalize: bool = Field(False, description=NORMALIZE_HELP)
    scaling: float = scaling_field()
    seed: int = Field(0, ge=0, le=2**63 - 1, description=SEED_HELP)


def merge_dare(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: DareParams,
    rng: torch.Generator,
    *,
    consensus: bool,
) -> torch.Tensor:
    return combine_task_vectors(
        tensors,
        base,
        weights,
        sparsify=lambda delta, gen: random_drop(delta, params.density, gen, params.rescale),
        consensus=consensus,
        normalize=params.normalize,
        scaling=params.scaling,
        rng=rng,
    )


DARE_LINEAR = MergeMethod(
    name="dare_linear",
    title="DARE (linear)",
    help="Randomly drops most of each model's changes, rescales the rest, and adds them to the base.",
    paper="https://arxiv.org/abs/2311.03099",
    params=DareParams,
    min_models=1,
    needs_base=True,
    weights="signed",
    merge_tensor=partial(merge_dare, consensus=False),
)

DARE_TIES = MergeMethod(
    name="dare_ties",
    title="DARE + TIES",
    help="DARE's random drop and rescale, then TIES's sign election before adding to the base.",
    paper="https://arxiv.org/abs/2311.03099",
    params=DareParams,
    min_models=2,
    needs_base=True,
    weights="signed",
    merge_tensor=partial(merge_dare, consensus=True),
)
