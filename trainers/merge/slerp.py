"""SLERP: spherical interpolation between two models, tensor by tensor.

Each tensor is treated as one vector: ``t = 0`` gives the first model, ``t = 1`` the second. Where
the two are nearly parallel (|cos| > 0.9995) it falls back to linear interpolation, as mergekit does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch

DOT_THRESHOLD = 0.9995
EPS = 1e-8


class SlerpParams(MethodParams):
    t: float = Field(
        0.5, ge=0.0, le=1.0, description="Where to land between the models: 0 is the first, 1 the second."
    )


def merge_slerp(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    params: SlerpParams,
    rng: torch.Generator,
) -> torch.Tensor:
    a, b, t = tensors[0], tensors[1], params.t
    norm_a, norm_b = float(a.norm()), float(b.norm())
    norm_a, norm_b = (norm_a if norm_a > EPS else 1.0), (norm_b if norm_b > EPS else 1.0)
    dot = max(-1.0, min(1.0, float(a.reshape(-1).dot(b.reshape(-1))) / (norm_a * norm_b)))
    if abs(dot) > DOT_THRESHOLD:
        coef_a, coef_b = 1 - t, t
    else:
        theta = math.acos(dot)
        coef_a, coef_b = math.sin((1 - t) * theta) / math.sin(theta), math.sin(t * theta) / math.sin(theta)
    return a.mul_(coef_a).add_(b, alpha=coef_b)


METHOD = MergeMethod(
    name="slerp",
    title="SLERP",
    help="Interpolates between exactly two models along the sphere, keeping the weights' scale.",
    paper="https://doi.org/10.1145/325165.325242",
    params=SlerpParams,
    min_models=2,
    max_models=2,
    weights="none",
    merge_tensor=merge_slerp,
)
