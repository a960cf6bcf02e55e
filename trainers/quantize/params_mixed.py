"""Parameters of the calibrated methods added after GPTQ: mixed precision under a budget, and AWQ.

Nothing here imports torch. Each check that needs only the parameters is a field validator, so a
refusal names its field (``params.bits_budget`` in the API, ``mixed_precision.bits_budget`` in a
spec); the checks that need the model's shapes are ``mixed.check_budget``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from trainers.quantize.params import Rtn4Params
from trainers.spec import _Strict

BITS_CHOICES = (2, 3, 4, 8)
SCALE_BITS = 16  # a float16 scale per group


def stored_bits_per_weight(bits: int, group_size: int) -> float:
    """What one weight costs at ``bits`` bits, its group's float16 scale and zero point shared out."""
    return bits + (SCALE_BITS + bits) / group_size


class CalibrationParams(_Strict):
    calibration_samples: int = Field(
        32, ge=4, le=4096, description="Calibration windows the sensitivities or scales are measured on."
    )
    calibration_seq_len: int = Field(256, ge=16, le=8192, description="Tokens per calibration window.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Which calibration windows are drawn.")


class MixedParams(Rtn4Params, CalibrationParams):
    group_size: int = Field(
        64, ge=16, le=1024, description="Weights per scale, the same at every width; 64 divides most models."
    )
    bits: list[Literal[2, 3, 4, 8]] = Field(
        list(BITS_CHOICES),
        min_length=1,
        description="The widths a layer may get; each layer gets one, chosen by the integer program.",
    )
    bits_budget: float | None = Field(
        None,
        description="Size budget: average stored bits per quantized weight, each group's float16 scale and "
        "zero point included (4-bit groups of 64 cost 4.31; GGUF Q4_0 4.5, Q5_0 5.5, Q8_0 8.5).",
    )
    bytes_budget: int | None = Field(
        None, ge=1, description="Size budget in bytes for all quantized Linear weights together."
    )
    loss_budget: float | None = Field(
        None,
        gt=0,
        le=10,
        description="Accuracy budget instead of a size one: the smallest model whose summed per-layer "
        "increases of calibration loss (nats per token) stay within this.",
    )
    sensitivity: Literal["kl", "loss"] = Field(
        "kl",
        description="What a layer's sensitivity measures: the KL divergence from the full-precision model's "
        "predictions on the calibration text (steady), or the next-token loss itself (the paper's).",
    )
    bias_correction: bool = Field(
        True,
        description="Shift the biases of layers that have them by the mean output error on calibration data.",
    )
    layerwise_calibration: bool = Field(
        False,
        description="AdaQuant: after the widths are chosen, tune each layer's weights and scales to keep its "
        "outputs on the calibration data (slower, better at 2-3 bits).",
    )
    layerwise_steps: int = Field(200, ge=1, le=10_000, description="AdaQuant optimisation steps per layer.")

    @field_validator("bits")
    @classmethod
    def _distinct(cls, bits: list[int]) -> list[int]:
        if len(set(bits)) != len(bits):
            raise ValueError(f"each width may appear once, got {bits}")
        return sorted(bits)

    @field_validator("bits_budget")
    @classmethod
    def _within_the_widths(cls, budget: float | None, info: ValidationInfo) -> float | None:
        bits, group = info.data.get("bits"), info.data.get("group_size")
        if budget is None or not bits or not group:
            return budget
        low, high = stored_bits_per_weight(min(bits), group), stored_bits_per_weight(max(bits), group)
        if not low <= budget:
            raise ValueError(
                f"{budget} bits per weight is below the smallest model the widths {bits} make "
                f"({low:.3f} with groups of {group}); raise it, or allow narrower widths"
            )
        if budget > high + 1e-9:
            raise ValueError(
                f"{budget} bits per weight is more than the widest choice costs ({high:.3f}, "
                f"{max(bits)} bits in groups of {group}); every layer would get {max(bits)} bits: "
                "lower it, or use rtn_int8"
            )
        return budget

    @model_validator(mode="after")
    def _one_budget(self) -> MixedParams:
        given = [n for n in ("bits_budget", "bytes_budget", "loss_budget") if getattr(self, n) is not None]
        if len(given) != 1:
            shown = ", ".join(given) if given else "none"
            raise ValueError(
                "give exactly one budget: bits_budget or bytes_budget (size), or loss_budget (accuracy); "
                f"got {shown}"
            )
        return self


class AwqParams(Rtn4Params, CalibrationParams):
    group_size: int = Field(
        128, ge=16, le=1024, description="Weights per scale; 128 is AutoAWQ's and vLLM's usual setting."
    )
    grid: int = Field(
        20, ge=2, le=100, description="Points of the scale exponent search over [0, 1] (AutoAWQ's n_grid)."
    )
    duo_scaling: bool = Field(
        True,
        description="Scales from activation and weight magnitudes (AutoAWQ's default), not activations only.",
    )
    clip: bool = Field(
        True,
        description="Search each group's clipping range on the calibration outputs (AutoAWQ's auto_clip).",
    )
    clip_grid: int = Field(20, ge=2, le=100, description="Steps of the clipping search.")
    max_shrink: float = Field(0.5, gt=0, lt=1, description="The clipping search goes down to 1 - max_shrink.")
