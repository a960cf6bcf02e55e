"""Model Stock: move from the base towards the fine-tunes' average by how much the fine-tunes agree.

As mergekit defines it: with task vectors δ_i = θ_i − θ_base (i = 1..N), cos θ is the mean of the
pairwise cosines between them, t = N·cos θ / (1 + (N−1)·cos θ), and the result is
``t · mean(θ_i) + (1 − t) · θ_base``. ``filter_wise`` takes the cosines per row (one t per output
filter) instead of over the whole tensor. Where 1 + (N−1)·cos θ is ~0 the base is kept.
Memory: every fine-tune's copy of the tensor at once (the cosines need each pair).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch


class ModelStockParams(MethodParams):
    filter_wise: bool = Field(
        False, description="Find the interpolation ratio per row (output filter) instead of per tensor."
    )


def merge_model_stock(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: ModelStockParams,
    rng: torch.Generator,
) -> torch.Tensor:
    import torch

    shape = base.shape
    rows = base.unsqueeze(0) if base.dim() == 1 else base
    w0 = rows if params.filter_wise else base.reshape(-1)  # [rows, d] or [numel]
    ws = [tensors[i].reshape(w0.shape) for i in range(len(tensors))]
    offsets = [w - w0 for w in ws]
    cosines = []
    for i, a in enumerate(offsets):
        for b in offsets[i + 1 :]:
            norms = (torch.norm(a, dim=-1) * torch.norm(b, dim=-1)).clamp(min=1e-6)
            cosines.append(((a * b).sum(dim=-1) / norms).clamp(-1, 1))
    cos = torch.stack(cosines).mean(dim=0).unsqueeze(-1)  # [rows, 1], or [1] for the whole tensor
    n = len(ws)
    denominator = 1 + (n - 1) * cos
    singular = denominator.abs() < 1e-6
    t = torch.where(singular, torch.zeros_like(cos), n * cos / torch.where(singular, 1.0, denominator))
    average = sum(ws) / n
    return (t * average + (1 - t) * w0).reshape(shape)


METHOD = MergeMethod(
    name="model_stock",
    title="Model Stock",
    help="Averages the fine-tunes, then pulls back towards the base the less they agree (needs 2+).",
    paper="https://arxiv.org/abs/2403.19522",
    params=ModelStockParams,
    min_models=2,
    needs_base=True,
    weights="none",
    merge_tensor=merge_model_stock,
)
