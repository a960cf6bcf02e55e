"""TIES merging: trim each task vector to its largest entries, elect signs, average the entries that agree.

Trim keeps the ``density`` share of largest-magnitude entries of each task vector; the sign of the
weighted sum is elected per entry; only entries agreeing with it are summed, and (normalize on)
divided by the weights of the models that agreed there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import NORMALIZE_HELP, Density, MethodParams, density_field, scaling_field
from trainers.merge.taskvec import combine_task_vectors, magnitude_trim

if TYPE_CHECKING:
    import torch


class TiesParams(MethodParams):
    density: Density = density_field(
        0.5, "Share of each model's changes to keep, largest first (the TIES 'k')."
    )
    normalize: bool = Field(True, description=NORMALIZE_HELP)
    scaling: float = scaling_field()


def merge_ties(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: TiesParams,
    rng: torch.Generator,
) -> torch.Tensor:
    return combine_task_vectors(
        tensors,
        base,
        weights,
        sparsify=lambda delta, _rng: magnitude_trim(delta, params.density),
        consensus=True,
        normalize=params.normalize,
        scaling=params.scaling,
        rng=rng,
    )


METHOD = MergeMethod(
    name="ties",
    title="TIES",
    help="Keeps each model's largest changes, resolves sign conflicts by election, averages what agrees.",
    paper="https://arxiv.org/abs/2306.01708",
    params=TiesParams,
    min_models=2,
    needs_base=True,
    weights="signed",
    merge_tensor=merge_ties,
)
