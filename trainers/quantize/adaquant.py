"""AdaQuant-style layer-wise calibration (Hubara et al., 2021, section 3): after the width is chosen,
tune a Linear's weights and its groups' scales so that its outputs on the calibration data stay close.

The layer's output error on inputs X is ‖X (W - Ŵ)ᵀ‖², which equals n · tr(E H Eᵀ) / 2 with
E = W - Ŵ and H = (2/n) Σ x xᵀ, the Hessian GPTQ already collects: so no activations are kept. Ŵ is
the dequantized ``round((W + V·s) / s') + z`` with a learned offset V (in steps) and per-group scale
s' = s·exp(t); rounding passes gradients straight through. Adam, ``steps`` steps, keeping the best
state seen. The result is kept only if its error is below round-to-nearest's, so the option never
makes a layer worse.
"""

from __future__ import annotations

import torch

from trainers.quantize.intn import quantize_groupwise
from trainers.quantize.rtn import QuantizedWeight


def output_error(weight: torch.Tensor, dequantized: torch.Tensor, hessian: torch.Tensor) -> torch.Tensor:
    """tr(E H Eᵀ) for E = weight - dequantized: the layer's mean squared output error (× 2)."""
    error = weight - dequantized
    return ((error @ hessian) * error).sum()


def _round_through(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def adaquant(
    weight: torch.Tensor, hessian: torch.Tensor, start: QuantizedWeight, steps: int
) -> QuantizedWeight:
    """``start`` (round-to-nearest of ``weight``) tuned against ``hessian``; the better of the two."""
    w = weight.float()
    out, cols = w.shape
    g, top = start.group_size, 2**start.bits - 1
    scale0 = start.scale.float().unsqueeze(-1)  # [out, groups, 1]
    zero = start.zero.float().unsqueeze(-1)
    offset = torch.zeros(out, cols // g, g, requires_grad=True)
    log_scale = torch.zeros_like(scale0, requires_grad=True)
    optimizer = torch.optim.Adam([{"params": [offset], "lr": 5e-2}, {"params": [log_scale], "lr": 1e-2}])
    groups = w.reshape(out, cols // g, g)
    norm = output_error(w, start.dequantize(), hessian).clamp(min=1e-12)
    best, kept = float("inf"), (offset.detach().clone(), log_scale.detach().clone())
    with torch.enable_grad():
        for _ in range(steps):
            scale = scale0 * log_scale.exp()
            q = torch.clamp(_round_through((groups + offset * scale0) / scale) + zero, 0, top)
            loss = output_error(w, ((q - zero) * scale).reshape(out, cols), hessian) / norm
            if float(loss.detach()) < best:  # the state that gave this loss, before the step moves it
                best, kept = float(loss.detach()), (offset.detach().clone(), log_scale.detach().clone())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        scale = (scale0 * kept[1].exp()).half().float()
        q = torch.clamp(torch.round((groups + kept[0] * scale0) / scale) + zero, 0, top)
    tuned = QuantizedWeight(
        q.reshape(out, cols).to(start.q.dtype), scale.squeeze(-1), start.zero, start.bits, g, start.symmetric
    )
    if output_error(w, tuned.dequantize(), hessian) < output_error(w, start.dequantize(), hessian):
        return tuned
    return start


def rtn_then_adaquant(
    weight: torch.Tensor,
    hessian: torch.Tensor | None,
    bits: int,
    group_size: int,
    symmetric: bool,
    steps: int,
) -> QuantizedWeight:
    start = quantize_groupwise(weight, bits, group_size, symmetric)
    return start if hessian is None else adaquant(weight, hessian, start, steps)
