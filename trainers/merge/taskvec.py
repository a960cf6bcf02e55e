"""Task vectors (a fine-tune minus its base): sparsify, elect signs, combine.

One function, ``combine_task_vectors``, serves task arithmetic, TIES, DARE and Breadcrumbs; the
methods differ only in how each task vector is thinned and whether signs are elected. The
arithmetic follows mergekit's generalized task arithmetic, so results agree with it:

    δ_i = sparsify(θ_i − θ_base) · w_i
    without consensus: Δ = Σ δ_i, normalised by Σ w_i
    with consensus (TIES): s = sign(Σ δ_i) (0 counts as +); Δ = Σ δ_i·[sign δ_i = s],
                           normalised element-wise by Σ w_i·[sign δ_i = s]
    θ = θ_base + λ · Δ

Memory: without consensus, one task vector at a time (plus the running sum); with consensus all
of them at once, since the elected sign depends on every one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

Sparsify = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]


def combine_task_vectors(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    *,
    sparsify: Sparsify | None,
    consensus: bool,
    normalize: bool,
    scaling: float,
    rng: torch.Generator,
) -> torch.Tensor:
    def task_vector(i: int) -> torch.Tensor:
        delta = tensors[i].sub_(base)
        return sparsify(delta, rng) if sparsify else delta

    if consensus:
        mixed = _elect_and_sum([task_vector(i).mul_(w) for i, w in enumerate(weights)], weights, normalize)
    else:
        mixed = task_vector(0).mul_(weights[0])
        for i in range(1, len(weights)):
            mixed.add_(task_vector(i), alpha=weights[i])
        total = sum(weights)
        if normalize and abs(total) >= 1e-8:
            mixed.div_(total)
    if scaling != 1:
        mixed.mul_(scaling)
    return mixed.add_(base)


def _elect_and_sum(deltas: list[torch.Tensor], weights: list[float], normalize: bool) -> torch.Tensor:
    """TIES: keep each weighted delta only where it agrees with the sign of their sum."""
    import torch

    total = deltas[0].clone()
    for delta in deltas[1:]:
        total.add_(delta)
    majority = torch.ge(total, 0).to(total.dtype).mul_(2).sub_(1)  # [shape]: ±1.0, a zero sum counts as +
    mixed, agrees = total.zero_(), torch.empty_like(majority)
    divisor = torch.zeros_like(majority) if normalize else None
    for delta, weight in zip(deltas, weights, strict=True):
        torch.mul(delta, majority, out=agrees).gt_(0)  # 1.0 where the signs agree (a zero never does)
        mixed.addcmul_(delta, agrees)
        if divisor is not None:
            divisor.add_(agrees, alpha=weight)
    if divisor is not None:
        divisor[divisor == 0] = 1
        mixed.div_(divisor)
    return mixed


def rank_mask(values: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """True where an element's ascending rank in ``values`` (1-D) is in [low, high).

    Two selections (``kthvalue``, linear time) instead of a full sort; equal values at a
    boundary are taken in order of position, so exactly ``high - low`` elements are kept.
    """
    import torch

    n = values.numel()
    if high <= low:
        return torch.zeros(n, dtype=torch.bool)
    mask = torch.ones(n, dtype=torch.bool)
    if high < n:
        mask &= _below_rank(values, high)
    if low > 0:
        mask &= ~_below_rank(values, low)
    return mask


def _below_rank(values: torch.Tensor, rank: int) -> torch.Tensor:
    """True for the ``rank`` smallest elements (ties broken by position)."""
    import torch

    threshold, _ = select(values, rank - 1)
    below = values < threshold
    missing = rank - int(torch.count_nonzero(below))
    ties = values == threshold
    if int(torch.count_nonzero(ties)) > missing:
        ties &= ties.cumsum(0, dtype=torch.int32) <= missing
    return below | ties


SAMPLE = 1 << 16


def select(values: torch.Tensor, rank: int) -> tuple[torch.Tensor, int]:
    """The value at ascending ``rank`` (0-based) of a 1-D tensor, and how many elements are >= it.

    The value is ``kthvalue(rank + 1)``, found faster: ``kthvalue`` is one thread at ~3 ns an
    element. A strided sample brackets the answer (±6 sigma of a sample quantile), vectorised passes
    count what falls below the bracket and gather what falls in it, and ``kthvalue`` runs on that
    small remainder. If the bracket misses (the margin makes it very unlikely) it falls back to the
    full ``kthvalue``; the result is exact either way.
    """
    import torch

    n = values.numel()
    if n > 2 * SAMPLE:
        sample = values[:: n // SAMPLE].contiguous()
        m, q, margin = sample.numel(), rank / (n - 1), 3 / math.sqrt(SAMPLE)
        low = sample.kthvalue(max(1, math.floor((q - margin) * m))).values if q > margin else None
        high = sample.kthvalue(min(m, math.ceil((q + margin) * m) + 1)).values if q < 1 - margin else None
        below = int(torch.count_nonzero(values < low)) if low is not None else 0
        inside = values >= low if low is not None else torch.ones(n, dtype=torch.bool)
        if high is not None:
            inside &= values <= high
        bracket = values[inside]
        if below <= rank < below + bracket.numel():
            value = bracket.kthvalue(rank - below + 1).values
            return value, n - below - int(torch.count_nonzero(bracket < value))
    value = values.kthvalue(rank + 1).values
    return value, int(torch.count_nonzero(values >= value))


def magnitude_trim(delta: torch.Tensor, density: float) -> torch.Tensor:
    """TIES trim: keep the ``density`` share of largest-magnitude entries (at least one)."""
    if density >= 1:
        return delta
    n = delta.numel()
    keep = max(1, int(density * n))
    magnitude = delta.abs().reshape(-1)
    threshold, at_or_above = select(magnitude, n - keep)
    # Equal magnitudes at the threshold (common: deltas of nearby floats round alike): keep exactly
    # ``keep``, dropping the earliest of the tied, as rank_mask ranks them.
    tied = (magnitude == threshold).nonzero().squeeze(1)[: at_or_above - keep] if at_or_above > keep else None
    kept = magnitude.ge_(threshold)  # in place: 1.0 where kept (a float mask multiplies several times faster)
    if tied is not None:
        kept[tied] = 0
    return delta.mul_(kept.view_as(delta))


def outlier_trim(delta: torch.Tensor, density: float, gamma: float) -> torch.Tensor:
    """Breadcrumbs: drop the ``gamma`` share of largest entries, then the smallest, keeping ``density``."""
    if density >= 1:
        return delta
    n = delta.numel()
    keep, top = int(density * n), int(gamma * n)
    bottom = max(0, n - keep - top)
    mask = rank_mask(delta.abs().reshape(-1), bottom, bottom + keep)
    return delta.mul_(mask.view_as(delta).to(delta.dtype))


def random_drop(delta: torch.Tensor, density: float, rng: torch.Generator, rescale: bool) -> torch.Tensor:
    """DARE: keep each entry with probability ``density``; rescale to keep the L1 norm (≈ 1/density)."""
    import torch

    if density >= 1:
        return delta
    before = delta.abs().sum() if rescale else None
    delta.mul_(torch.rand(delta.shape, generator=rng).lt_(density))  # in place: a float 0/1 mask
    if before is not None:
        after = delta.abs().sum()
        if before >= 1e-7 and after >= 1e-7:
            delta.mul_(before / after)
    return delta
