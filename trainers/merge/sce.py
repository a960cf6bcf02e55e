"""SCE: select the entries the fine-tunes vary most on, weight each model by its change, erase sign conflicts.

As mergekit defines it, with task vectors δ_i = θ_i − θ_base stacked as [N, ...]:
  select: keep the ``select_topk`` share of entries with the largest variance across the models
          (of the entries whose variance is not 0); the rest of every δ_i is zeroed;
  calculate: each model's weight is its mean squared change, normalised to sum to 1;
  erase: an entry of δ_i counts only where its sign agrees with the sign of Σ δ (0 counts as +);
  θ = θ_base + Σ w_i·mask_i·δ_i / Σ w_i·mask_i.
The per-model weights of the spec are not used (mergekit takes none). Memory: all task vectors at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch


class SceParams(MethodParams):
    select_topk: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Share of entries to keep, those the models disagree on most (1 keeps all).",
    )


def variance_mask(deltas: torch.Tensor, share: float) -> torch.Tensor:
    """1.0 at the ``share`` of entries with the largest variance across models (dim 0), else 0."""
    import torch

    variance = torch.var(deltas, dim=0, unbiased=False)
    k = int(torch.count_nonzero(variance) * share)
    mask = torch.zeros_like(variance)
    if k:
        mask.view(-1)[torch.topk(variance.abs().view(-1), k=k, largest=True).indices] = 1
    return mask


def merge_sce(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: SceParams,
    rng: torch.Generator,
) -> torch.Tensor:
    import torch

    deltas = torch.empty((len(tensors), *base.shape), dtype=base.dtype)  # [N, ...]
    for i in range(len(tensors)):
        deltas[i] = tensors[i].sub_(base)  # each input freed once copied
    if params.select_topk < 1:
        deltas.mul_(variance_mask(deltas, params.select_topk))
    majority = (deltas.sum(dim=0) >= 0).to(deltas.dtype) * 2 - 1
    agrees = (deltas.sign() == majority).to(deltas.dtype)  # [N, ...]
    energy = deltas.square().reshape(len(deltas), -1).mean(dim=1)  # [N]
    total = float(energy.sum())
    model_weights = torch.full_like(energy, 1 / len(energy)) if abs(total) < 1e-6 else energy / total
    erased = model_weights.view(-1, *([1] * base.dim())) * agrees
    merged = (deltas * erased).sum(dim=0) / erased.sum(dim=0).clamp(min=1e-6)
    return merged.add_(base)


METHOD = MergeMethod(
    name="sce",
    title="SCE",
    help="Keeps the entries the models differ on most, weights models by their change, drops sign conflicts.",
    paper="https://arxiv.org/abs/2408.07990",
    params=SceParams,
    min_models=2,
    needs_base=True,
    weights="none",
    merge_tensor=merge_sce,
)
