"""Round-to-nearest at any width from 2 to 8 bits, in groups of columns: the menu mixed precision and
AWQ choose from.

Same rules as ``rtn.quantize_int4_groupwise`` at other widths: per group of ``group_size`` columns
the range [min, max], widened to hold 0, is cut into ``2**bits - 1`` steps (asymmetric), or the value
of largest magnitude maps to ``-2**(bits-1)`` (symmetric); scales are float16-exact. At 4 bits the
integers are exactly rtn_int4's. ``q`` is stored unsigned in [0, 2**bits - 1], zero point included.
"""

from __future__ import annotations

import torch

from trainers.quantize.rtn import QuantizedWeight


def scale_zero(groups: torch.Tensor, bits: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point per group of ``groups`` [..., group_size]."""
    top = 2**bits - 1
    if symmetric:
        index = groups.abs().argmax(dim=-1, keepdim=True)
        scale = torch.gather(groups, -1, index).squeeze(-1) / -(2 ** (bits - 1))
        zero = torch.full_like(scale, 2 ** (bits - 1))
    else:
        low = groups.amin(dim=-1).clamp(max=0)
        high = groups.amax(dim=-1).clamp(min=0)
        scale = (high - low) / top
    scale = scale.half().float()
    scale = torch.where(scale != 0, scale, torch.ones_like(scale))
    if not symmetric:
        zero = torch.clamp(torch.round(-low / scale), 0, top)
    return scale, zero


def quantize_groupwise(
    weight: torch.Tensor, bits: int, group_size: int, symmetric: bool = False
) -> QuantizedWeight:
    """``weight`` [out, in] as ``bits``-bit integers in groups of ``group_size`` columns."""
    out, cols = weight.shape
    if cols % group_size:
        raise ValueError(f"{cols} columns do not split into groups of {group_size}")
    groups = weight.float().reshape(out, cols // group_size, group_size)
    scale, zero = scale_zero(groups, bits, symmetric)
    q = torch.clamp(torch.round(groups / scale.unsqueeze(-1)) + zero.unsqueeze(-1), 0, 2**bits - 1)
    return QuantizedWeight(
        q.reshape(out, cols).to(torch.uint8 if bits == 8 else torch.int8),
        scale,
        zero.to(torch.uint8 if bits == 8 else torch.int8),
        bits,
        group_size,
        symmetric,
    )
