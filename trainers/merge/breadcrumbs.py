"""Model Breadcrumbs: drop each task vector's largest outliers and its smallest entries, then combine.

Of each task vector, the ``gamma`` share of largest-magnitude entries goes first, then the smallest,
so that ``density`` of the entries remain. ``breadcrumbs_ties`` elects signs as TIES does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import NORMALIZE_HELP, Density, MethodParams, density_field, scaling_field
from trainers.merge.taskvec import combine_task_vectors, outlier_trim

if TYPE_CHECKING:
    import torch


class BreadcrumbsParams(MethodParams):
    density: Density = density_field(0.9, "Share of each model's changes to keep after dropping outliers.")
    gamma: float = Field(
        0.01, ge=0.0, lt=1.0, description="Share of each model's largest changes to drop as outliers."
    )
    normalize: bool = Field(False, description=NORMALIZE_HELP)
    scaling: float = scaling_field()


def merge_breadcrumbs(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: BreadcrumbsParams,
    rng: torch.Generator,
    *,
    consensus: bool,
) -> torch.Tensor:
    return combine_task_vectors(
        tensors,
        base,
        weights,
        sparsify=lambda delta, _rng: outlier_trim(delta, params.density, params.gamma),
        consensus=consensus,
        normalize=params.normalize,
        scaling=params.scaling,
        rng=rng,
    )


BREADCRUMBS = MergeMethod(
    name="breadcrumbs",
    title="Model Breadcrumbs",
    help="Drops each model's largest and smallest changes, keeps the rest and adds them to the base.",
    paper="https://arxiv.org/abs/2312.06795",
    params=BreadcrumbsParams,
    min_models=1,
    needs_base=True,
    weights="signed",
    merge_tensor=partial(merge_breadcrumbs, consensus=False),
)

BREADCRUMBS_TIES = MergeMethod(
    name="breadcrumbs_ties",
    title="Model Breadcrumbs + TIES",
    help="Breadcrumbs' outlier and small-change drop, then TIES's sign election.",
    paper="https://arxiv.org/abs/2312.06795",
    params=BreadcrumbsParams,
    min_models=2,
    needs_base=True,
    weights="signed",
    merge_tensor=partial(merge_breadcrumbs, consensus=True),
)
