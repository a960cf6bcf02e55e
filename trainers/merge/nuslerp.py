"""NuSLERP: SLERP between two models with t from their weights, per row or over the whole tensor.

As mergekit defines it: t = w₂ / (w₁ + w₂) (0.5 where the weights sum to ~0). With a base model the
two task vectors θ_i − θ_base are interpolated and added to the base (a spherical task
arithmetic); without one, the weights themselves. ``nuslerp_flatten`` treats each tensor as one
vector; off, ``nuslerp_row_wise`` picks rows (else columns) as the vectors. Where the two are
colinear it falls back to linear interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch

EPS = 1e-8


class NuSlerpParams(MethodParams):
    nuslerp_flatten: bool = Field(True, description="Interpolate each tensor as one vector.")
    nuslerp_row_wise: bool = Field(
        False, description="With flatten off: interpolate row vectors (on) or column vectors (off)."
    )


def nuslerp(t: float, v0: torch.Tensor, v1: torch.Tensor, *, dim: int, flatten: bool) -> torch.Tensor:
    import torch

    shape = v0.shape
    if flatten:
        v0, v1 = v0.reshape(-1), v1.reshape(-1)
    elif dim != -1:
        v0, v1 = v0.transpose(dim, -1), v1.transpose(dim, -1)
    u0 = v0 / torch.norm(v0, dim=-1, keepdim=True).clamp(min=1e-7)
    u1 = v1 / torch.norm(v1, dim=-1, keepdim=True).clamp(min=1e-7)
    cos = torch.sum(u0 * u1, dim=-1, keepdim=True).clamp(-1, 1)
    colinear = (1 - cos.square()) <= EPS**2
    theta = torch.acos(torch.where(colinear, 0, cos))
    spherical = (torch.sin((1 - t) * theta) * v0 + torch.sin(t * theta) * v1) / torch.sin(theta)
    result = torch.where(colinear, (1 - t) * v0 + t * v1, spherical)
    if dim != -1 and not flatten:
        result = result.transpose(dim, -1)
    return result.reshape(shape)


def merge_nuslerp(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    params: NuSlerpParams,
    rng: torch.Generator,
) -> torch.Tensor:
    total = sum(weights)
    t = 0.5 if abs(total) < 1e-6 else weights[1] / total
    dim = 0 if params.nuslerp_row_wise else -1
    a, b = tensors[0], tensors[1]
    if base is None:
        return nuslerp(t, a, b, dim=dim, flatten=params.nuslerp_flatten)
    return base + nuslerp(t, a.sub_(base), b.sub_(base), dim=dim, flatten=params.nuslerp_flatten)


METHOD = MergeMethod(
    name="nuslerp",
    title="NuSLERP",
    help="SLERP of two models at t = w₂/(w₁+w₂); with a base model, of their task vectors.",
    paper="https://github.com/arcee-ai/mergekit/blob/main/docs/merge_methods.md#nuslerp",
    params=NuSlerpParams,
    min_models=2,
    max_models=2,
    uses_base=True,
    weights="signed",
    merge_tensor=merge_nuslerp,
)
