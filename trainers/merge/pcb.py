"""PCB merging (parameter competition balancing): score each change within its model and across models,
keep the highest-scored share, and average the changes weighted by their scores.

mergekit has no PCB; this follows the paper (Du et al. 2024, arXiv 2410.02396) and its authors'
code (duguodong7/pcb-merging, ``PCB_merge``), with task vectors δ_i = θ_i − θ_base as rows [N, d]:
  clamp:   |δ_i| clipped to its own [clamp_ratio, 1 − clamp_ratio] quantiles (outliers), δ̃_i = sign·that
  intra:   exp(N · minmax(|δ̃_i|)²)            (a change large within its own model matters more)
  inter:   tanh(δ_i · Σ_j δ_j)                 (agreeing with the others scores +, conflicting −)
  score:   β_i = intra · inter
  drop:    β_i clipped from below at its (1 − pcb_ratio) quantile, then min-max scaled to [0, 1],
           so the lower 1 − pcb_ratio share of each model's scores weigh 0
  merge:   θ = θ_base + λ · Σ β_i δ̃_i / Σ β_i
One difference from the paper: it scores over the whole flattened model at once; here each tensor
is its own [N, d] (as mergekit's TIES is per tensor), so merges stream tensor by tensor. Where a
model's scores are all equal (nothing to rank, e.g. a one-entry tensor) they all weigh 1.
The per-model weights of the spec are not used (the paper's method takes none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams, scaling_field

if TYPE_CHECKING:
    import torch


class PcbParams(MethodParams):
    pcb_ratio: float = Field(
        0.1, gt=0.0, le=1.0, description="Share of each model's changes to keep, highest-scored first."
    )
    clamp_ratio: float = Field(
        1e-4,
        ge=0.0,
        lt=0.5,
        description="Share of each model's largest and smallest changes clipped as outliers first.",
    )
    scaling: float = scaling_field()


def row_value_at(rows: torch.Tensor, position: int) -> torch.Tensor:
    """Each row's value at ascending sorted ``position`` (kept inside the row): [N, 1]."""
    position = min(max(position, 0), rows.shape[1] - 1)
    return rows.kthvalue(position + 1, dim=1, keepdim=True).values


def minmax_(rows: torch.Tensor) -> torch.Tensor:
    """Each row scaled to [0, 1] in place; a constant row becomes all ones."""
    low, high = rows.min(dim=1, keepdim=True).values, rows.max(dim=1, keepdim=True).values
    span = high.sub_(low)
    constant = span == 0
    rows.sub_(low).div_(span.masked_fill_(constant, 1.0))
    return rows.masked_fill_(constant.expand_as(rows), 1.0)


def pcb_scores(
    deltas: torch.Tensor, clamp_ratio: float, pcb_ratio: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clamped task vectors δ̃ and their balanced weights β (both [N, d]). In place where it can:
    besides ``deltas``, two [N, d] results and one temporary at a time."""
    import torch

    n, d = deltas.shape
    magnitude = deltas.abs()
    # The authors' clamp: sorted positions int(d·r) and int(d·(1 − r) − 1).
    low = row_value_at(magnitude, int(d * clamp_ratio))
    high = row_value_at(magnitude, int(d * (1 - clamp_ratio) - 1))
    magnitude.clamp_(low, high)
    score = minmax_(magnitude.clone()).square_().mul_(n).exp_()  # intra-balancing
    score.mul_(torch.tanh_(deltas * deltas.sum(dim=0, keepdim=True)))  # × inter-balancing
    score.clamp_(min=row_value_at(score, int(d * (1 - pcb_ratio))))  # drop: the lower share → the floor
    clamped = magnitude.mul_(torch.sign(deltas))
    return clamped, minmax_(score)


def merge_pcb(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: PcbParams,
    rng: torch.Generator,
) -> torch.Tensor:
    import torch

    flat_base = base.reshape(-1)
    deltas = torch.empty((len(tensors), flat_base.numel()), dtype=base.dtype)  # [N, d]
    for i in range(len(tensors)):
        deltas[i] = tensors[i].reshape(-1).sub_(flat_base)  # each input freed once copied
    clamped, scale = pcb_scores(deltas, params.clamp_ratio, params.pcb_ratio)
    del deltas
    merged = clamped.mul_(scale).sum(dim=0).div_(scale.sum(dim=0).clamp_(min=1e-12))
    return merged.reshape(base.shape).mul_(params.scaling).add_(base)


METHOD = MergeMethod(
    name="pcb",
    title="PCB (parameter competition balancing)",
    help="Scores each change within its model and against the others, keeps the best, averages by score.",
    paper="https://arxiv.org/abs/2410.02396",
    params=PcbParams,
    min_models=2,
    needs_base=True,
    weights="none",
    merge_tensor=merge_pcb,
)
