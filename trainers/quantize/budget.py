"""Mixed precision's size budget in bytes, and its refusals from the layers' shapes alone (no
weights, no torch): the trainer runs them before loading the model, the launch path before queueing.
"""

from __future__ import annotations

from trainers.quantize.params_mixed import MixedParams, stored_bits_per_weight
from trainers.spec import SpecError

GGUF_BITS_PER_WEIGHT = {"Q4_0": 4.5, "Q5_0": 5.5, "Q8_0": 8.5}  # (2-byte scale + 32 values) / 32
GGUF_OUTPUTS = ("gguf_q8_0", "gguf_q4_0")


def budget_bytes(p: MixedParams, shapes: dict[str, tuple[int, int]]) -> float | None:
    """The size budget in bytes (None for a loss budget)."""
    if p.bits_budget is not None:
        return p.bits_budget * sum(o * i for o, i in shapes.values()) / 8
    return float(p.bytes_budget) if p.bytes_budget is not None else None


def budget_field(p: MixedParams) -> str:
    return "bits_budget" if p.bits_budget is not None else "bytes_budget"


def check_budget(p: MixedParams, shapes: dict[str, tuple[int, int]], outputs: list[str]) -> None:
    """SpecError for a size budget no choice of widths (or, with a GGUF output, of GGUF types) meets."""
    budget = budget_bytes(p, shapes)
    if budget is None:
        return
    weights = sum(o * i for o, i in shapes.values())
    narrowest = weights * stored_bits_per_weight(min(p.bits), p.group_size) / 8
    if budget < narrowest:
        raise SpecError(
            f"mixed_precision.{budget_field(p)}: {budget:,.0f} bytes is less than the smallest choice of "
            f"widths takes ({narrowest:,.0f} bytes, every layer at {min(p.bits)} bits): raise it"
        )
    smallest_gguf = weights * min(GGUF_BITS_PER_WEIGHT.values()) / 8
    if any(o in GGUF_OUTPUTS for o in outputs) and budget < smallest_gguf:
        raise SpecError(
            f"mixed_precision.{budget_field(p)}: a GGUF output holds at least Q4_0 (4.5 bits per weight, "
            f"{smallest_gguf:,.0f} bytes for these layers), more than the budget's {budget:,.0f}; "
            "raise the budget, or drop the GGUF output"
        )
