"""Round-to-nearest weight quantization: int8 per output channel, int4 in groups of columns.

A weight matrix ``W`` of shape [out, in] becomes integers ``q`` and per-group ``scale`` (and
``zero``) with ``W ≈ (q - zero) * scale``:

- int8: symmetric, one scale per output row, ``scale = max|row| / 127``, ``q`` in [-127, 127]
  (``zero`` is 0 and not stored).
- int4, asymmetric: per group of ``group_size`` columns the range [min, max] (widened to hold 0,
  so zeros stay exact) is cut into 15 steps; ``q`` in [0, 15], ``zero`` in [0, 15].
- int4, symmetric (llama.cpp's Q4_0 rule): the value of largest magnitude ``m`` maps to -8,
  ``scale = m / -8`` and ``zero = 8``, so ``q - 8`` spans [-8, 7].

int4 scales are rounded to float16 before the integers are chosen, so a file that stores them in
16 bits (GGUF Q4_0) dequantizes to exactly what the quantizer measured its error against.
Every error is at most half a step, except symmetric int4's clipped top end (at most one step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INT4_MAX = 15
INT8_MAX = 127


@dataclass
class QuantizedWeight:
    """Integer weights with their scales: ``W ≈ (q - zero) * scale`` per group of ``group_size`` columns."""

    q: torch.Tensor  # int8 [out, in]
    scale: torch.Tensor  # float32 [out, in // group_size]
    zero: torch.Tensor | None  # int8 [out, in // group_size]; None means 0 (symmetric int8)
    bits: int
    group_size: int
    symmetric: bool

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        out, cols = self.q.shape
        q = self.q.float().reshape(out, cols // self.group_size, self.group_size)
        if self.zero is not None:
            q = q - self.zero.float().unsqueeze(-1)
        return (q * self.scale.unsqueeze(-1)).reshape(out, cols).to(dtype)

    @property
    def nbytes(self) -> int:
        zero = self.zero.numel() if self.zero is not None else 0
        return self.q.numel() * self.bits // 8 + self.scale.numel() * 4 + zero * self.bits // 8


def quantize_int8_per_channel(weight: torch.Tensor) -> QuantizedWeight:
    w = weight.float()
    scale = w.abs().amax(dim=1, keepdim=True) / INT8_MAX  # [out, 1]
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(w / scale), -INT8_MAX, INT8_MAX).to(torch.int8)
    return QuantizedWeight(q, scale, None, 8, w.shape[1], True)


def int4_scale_zero(groups: torch.Tensor, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point per group, for ``groups`` of shape [..., group_size] (last dim is one group)."""
    if symmetric:
        index = groups.abs().argmax(dim=-1, keepdim=True)
        scale = torch.gather(groups, -1, index).squeeze(-1) / -8
        zero = torch.full_like(scale, 8)
    else:
        low = groups.amin(dim=-1).clamp(max=0)
        high = groups.amax(dim=-1).clamp(min=0)
        scale = (high - low) / INT4_MAX
    scale = scale.half().float()  # float16-exact, see the module doc
    scale = torch.where(scale != 0, scale, torch.ones_like(scale))
    if not symmetric:
        zero = torch.clamp(torch.round(-low / scale), 0, INT4_MAX)
    return scale, zero


def quantize_to_grid(groups: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """Nearest level per value, ``clamp(round(x / scale) + zero, 0, 15)``, shaped like ``groups``."""
    return torch.clamp(torch.round(groups / scale.unsqueeze(-1)) + zero.unsqueeze(-1), 0, INT4_MAX)


def quantize_int4_groupwise(weight: torch.Tensor, group_size: int, symmetric: bool) -> QuantizedWeight:
    out, cols = weight.shape
    if cols % group_size:
        raise ValueError(f"{cols} columns do not split into groups of {group_size}")
    groups = weight.float().reshape(out, cols // group_size, group_size)
    scale, zero = int4_scale_zero(groups, symmetric)
    q = quantize_to_grid(groups, scale, zero).reshape(out, cols)
    return QuantizedWeight(q.to(torch.int8), scale, zero.to(torch.int8), 4, group_size, symmetric)


def quantize_rtn(
    weight: torch.Tensor, method: str, group_size: int = 32, symmetric: bool = False
) -> QuantizedWeight:
    """Round-to-nearest by method name (``rtn_int8`` or ``rtn_int4``), through the method registry."""
    from trainers.quantize import registry

    chosen = registry.get(method)
    if chosen.quantize_tensor is None:
        raise ValueError(f"{method} is not a round-to-nearest method")
    params = chosen.params(group_size=group_size, symmetric=symmetric) if chosen.params else None
    return chosen.quantize_tensor(weight, params)
