"""Bit allocation as an integer program (Hubara et al., 2021, arXiv:2006.10518, section 4).

Each layer ``l`` gets exactly one choice ``c`` (a width, or a GGUF type); choosing it costs
``size[l][c]`` bytes and adds ``loss[l][c]`` to the model's loss, measured with only that layer
quantized (the paper's additive approximation). With binary ``x[l, c]``:

- size budget: minimise Σ loss·x subject to Σ size·x ≤ budget and Σ_c x[l, c] = 1 for every l;
- accuracy budget: minimise Σ size·x subject to Σ loss·x ≤ budget, and the same one-per-layer rows.

Solved exactly with ``scipy.optimize.milp`` (HiGHS branch and bound): a few hundred binaries at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from trainers.spec import SpecError


@dataclass(frozen=True)
class Allocation:
    choice: dict[str, str]  # layer -> the chosen option's name
    size_bytes: float
    loss_increase: float  # the sum of the chosen per-layer increases (the program's estimate)


def allocate(
    loss: dict[str, dict[str, float]],
    size: dict[str, dict[str, float]],
    *,
    bytes_budget: float | None = None,
    loss_budget: float | None = None,
) -> Allocation:
    """The best choice per layer under exactly one of the two budgets; SpecError if none fits."""
    if (bytes_budget is None) == (loss_budget is None):
        raise ValueError("give exactly one of bytes_budget and loss_budget")
    layers = list(loss)
    pairs = [(layer, option) for layer in layers for option in loss[layer]]
    losses = np.array([loss[layer][option] for layer, option in pairs])
    sizes = np.array([size[layer][option] for layer, option in pairs])
    one_each = np.zeros((len(layers), len(pairs)))
    for column, (layer, _option) in enumerate(pairs):
        one_each[layers.index(layer), column] = 1
    rows = [LinearConstraint(one_each, 1, 1)]
    if bytes_budget is not None:
        check_size_budget(bytes_budget, size)
        objective, rows = losses, [*rows, LinearConstraint(sizes[None, :], -np.inf, bytes_budget)]
    else:
        objective, rows = sizes, [*rows, LinearConstraint(losses[None, :], -np.inf, loss_budget)]
    solved = milp(objective, constraints=rows, integrality=np.ones(len(pairs)), bounds=Bounds(0, 1))
    if solved.x is None:
        raise SpecError(
            f"mixed_precision.loss_budget: no choice of widths keeps the loss increase within {loss_budget}; "
            f"the smallest reachable is {sum(min(v.values()) for v in loss.values()):.4g}: raise it"
        )
    chosen = np.round(solved.x).astype(bool)
    choice = {layer: option for (layer, option), picked in zip(pairs, chosen, strict=True) if picked}
    return Allocation(choice, float(sizes[chosen].sum()), float(losses[chosen].sum()))


def check_size_budget(bytes_budget: float, size: dict[str, dict[str, float]]) -> None:
    smallest = sum(min(options.values()) for options in size.values())
    if bytes_budget < smallest:
        raise SpecError(
            f"mixed_precision.bytes_budget: {bytes_budget:,.0f} bytes is less than the smallest choice of "
            f"widths takes ({smallest:,.0f} bytes, every layer at its narrowest): raise it"
        )
