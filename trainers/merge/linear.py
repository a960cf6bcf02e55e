"""Linear merge: a weighted average of the models' weights (a model soup).

Equal weights (the default) give the uniform soup; per-model weights give a weighted soup.
Memory: the running sum plus the model being added, whatever the number of models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import NORMALIZE_HELP, MethodParams

if TYPE_CHECKING:
    import torch


class LinearParams(MethodParams):
    normalize: bool = Field(True, description=NORMALIZE_HELP)


def merge_linear(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    params: LinearParams,
    rng: torch.Generator,
) -> torch.Tensor:
    mixed = tensors[0].mul_(weights[0])  # [shape], float32
    for i in range(1, len(weights)):
        mixed.add_(tensors[i], alpha=weights[i])
    if params.normalize:
        mixed.div_(sum(weights))
    return mixed


METHOD = MergeMethod(
    name="linear",
    title="Linear (model soup)",
    help="Weighted average of the models' weights; leave weights out for a uniform soup.",
    paper="https://arxiv.org/abs/2203.05482",
    params=LinearParams,
    min_models=2,
    weights="proportions",
    merge_tensor=merge_linear,
)
