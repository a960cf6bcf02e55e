"""Karcher mean: the models' weighted Fréchet mean on the unit sphere, scaled back by their norms.

As mergekit defines it: each tensor is one vector; its direction u_i = θ_i / ‖θ_i‖. Starting from
the normalised average direction, Riemannian gradient steps move the mean μ along the sphere
(the tangent Σ α_i · θ_i/sin θ_i · (u_i − cos θ_i · μ), θ_i the angle from μ to u_i) until the step
is below ``tol`` or ``max_iter`` is reached; the result is μ · Σ α_i ‖θ_i‖. Every model counts the
same (α_i = 1/N), as in mergekit. Memory: every model's copy of the tensor at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch


class KarcherParams(MethodParams):
    max_iter: int = Field(10, ge=1, le=1000, description="Most gradient steps on the sphere per tensor.")
    tol: float = Field(
        1e-5, gt=0, le=0.1, description="Stop once a step moves the mean by less than this (radians)."
    )


def _direction(v: torch.Tensor) -> torch.Tensor:
    import torch

    norm = torch.linalg.vector_norm(v)
    return v / norm if float(norm) != 0.0 else torch.zeros_like(v)


def karcher_mean(tensors: list[torch.Tensor], max_iter: int, tol: float) -> torch.Tensor:
    import torch

    norms = [torch.linalg.vector_norm(t) for t in tensors]
    alpha = 1.0 / len(tensors)
    valid = [i for i, n in enumerate(norms) if float(n) > tol]
    if not valid:
        return torch.zeros_like(tensors[0])
    units = [_direction(tensors[i]) for i in valid]
    weights = [1.0 / len(valid)] * len(valid)  # the models that are not ~0, renormalised
    mean = sum(w * u for w, u in zip(weights, units, strict=True))
    mean_norm = torch.linalg.vector_norm(mean)
    mean = units[0].clone() if float(mean_norm) < tol else mean / mean_norm
    for _ in range(max_iter):
        tangent = torch.zeros_like(mean)
        for w, u in zip(weights, units, strict=True):
            dot = torch.clamp(torch.dot(mean.flatten(), u.flatten()), -1.0, 1.0)
            theta = torch.arccos(dot)
            if float(theta) < tol:
                continue
            tangent += w * (theta / torch.sin(theta)) * (u - dot * mean)
        step = torch.linalg.vector_norm(tangent)
        if float(step) < tol:
            break
        mean = torch.cos(step) * mean + torch.sin(step) * (tangent / step)
        unit_norm = torch.linalg.vector_norm(mean)
        if float(unit_norm) > tol:
            mean = mean / unit_norm
    return sum(alpha * n for n in norms) * mean


def merge_karcher(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    params: KarcherParams,
    rng: torch.Generator,
) -> torch.Tensor:
    return karcher_mean([tensors[i] for i in range(len(tensors))], params.max_iter, params.tol)


METHOD = MergeMethod(
    name="karcher",
    title="Karcher mean",
    help="The models' mean on the sphere (a SLERP for any number of models), at their average norm.",
    paper="https://arxiv.org/abs/2603.04972",
    params=KarcherParams,
    min_models=2,
    weights="none",
    merge_tensor=merge_karcher,
)
