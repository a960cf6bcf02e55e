"""DELLA: drop task-vector entries at random with a chance that falls with their magnitude, then combine.

As mergekit defines it (``della_magprune``): within each row of a task vector (a 1-D tensor is
one row), entries are ranked by magnitude and kept with probability from ``density − epsilon``
(smallest) rising linearly to ``density + epsilon`` (largest); what is kept is rescaled so the
tensor's L1 norm is unchanged (``rescale``). Then ``della`` elects signs as TIES does
and ``della_linear`` adds the thinned task vectors as task arithmetic does.

Seeding: as DARE, one generator per tensor seeded from (seed, tensor name), one ``torch.bernoulli``
per model in model order; given the same generator state the masks are mergekit's bit for bit
(tests/trainers/merge/test_mergekit_new.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from trainers.merge.method import MergeMethod
from trainers.merge.params import (
    NORMALIZE_HELP,
    SEED_HELP,
    Density,
    MethodParams,
    density_field,
    scaling_field,
)
from trainers.merge.taskvec import combine_task_vectors

if TYPE_CHECKING:
    import torch


class DellaParams(MethodParams):
    density: Density = density_field(0.5, "Average chance that a changed weight is kept.")
    epsilon: float = Field(
        0.15,
        ge=0.0,
        lt=0.5,
        description="Spread of the keep chance: smallest changes density − ε, largest density + ε.",
    )
    rescale: bool = Field(True, description="Scale what is kept back up so each model's total change stays.")
    normalize: bool = Field(True, description=NORMALIZE_HELP)
    scaling: float = scaling_field()
    seed: int = Field(0, ge=0, le=2**63 - 1, description=SEED_HELP)

    @model_validator(mode="after")
    def _chances_are_probabilities(self) -> DellaParams:
        if self.density < 1 and not (self.density - self.epsilon > 0 and self.density + self.epsilon < 1):
            raise ValueError(
                f"density ± epsilon must stay inside (0, 1), got {self.density} ± {self.epsilon}; "
                "lower epsilon or move density towards 0.5"
            )
        return self


class DellaLinearParams(DellaParams):
    normalize: bool = Field(False, description=NORMALIZE_HELP)


def magnitude_ranked_drop(
    delta: torch.Tensor, density: float, epsilon: float, rng: torch.Generator, rescale: bool
) -> torch.Tensor:
    """Keep each entry with a chance from density − ε to density + ε by its magnitude's rank in its row."""
    import torch

    if density >= 1:
        return delta
    rows = delta.unsqueeze(0) if delta.dim() < 2 else delta
    ranks = torch.argsort(torch.argsort(rows.abs(), dim=1), dim=1).to(rows.dtype) + 1
    low, high = ranks.min(dim=1, keepdim=True).values, ranks.max(dim=1, keepdim=True).values
    spread = (high - low).clamp(min=1)  # a row of one entry gets density − ε (mergekit divides by 0 there)
    chance = (density - epsilon) + ((ranks - low) / spread).clamp(0, 1) * 2 * epsilon
    kept = rows * torch.bernoulli(chance, generator=rng)
    if rescale:
        before, after = rows.abs().sum(), kept.abs().sum()
        if before >= 1e-7 and after >= 1e-7:
            kept.mul_(before / after)
    return kept.reshape(delta.shape)


def merge_della(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: DellaParams,
    rng: torch.Generator,
    *,
    consensus: bool,
) -> torch.Tensor:
    return combine_task_vectors(
        tensors,
        base,
        weights,
        sparsify=lambda delta, gen: magnitude_ranked_drop(
            delta, params.density, params.epsilon, gen, params.rescale
        ),
        consensus=consensus,
        normalize=params.normalize,
        scaling=params.scaling,
        rng=rng,
    )


DELLA = MergeMethod(
    name="della",
    title="DELLA",
    help="Drops small changes more often than large ones (MagPrune), rescales, elects signs as TIES.",
    paper="https://arxiv.org/abs/2406.11617",
    params=DellaParams,
    min_models=2,
    needs_base=True,
    weights="signed",
    merge_tensor=partial(merge_della, consensus=True),
)

DELLA_LINEAR = MergeMethod(
    name="della_linear",
    title="DELLA (linear)",
    help="DELLA's magnitude-ranked random drop and rescale, then adds the changes to the base.",
    paper="https://arxiv.org/abs/2406.11617",
    params=DellaLinearParams,
    min_models=1,
    needs_base=True,
    weights="signed",
    merge_tensor=partial(merge_della, consensus=False),
)
