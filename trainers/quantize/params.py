"""The quantize methods' parameter groups; the spec names each group after its method.

Nothing here imports torch, so the spec (and the platform) can import it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from trainers.spec import _Strict


class Rtn4Params(_Strict):
    group_size: int = Field(
        32, ge=16, le=1024, description="Weights per scale; smaller groups are more accurate and larger."
    )
    symmetric: bool = Field(
        False,
        description="One scale per group and no zero point; asymmetric groups fit skewed weights better.",
    )

    @model_validator(mode="after")
    def _power_of_two(self) -> Rtn4Params:
        if self.group_size & (self.group_size - 1):
            raise ValueError(f"group_size must be a power of two (16, 32, 64, ...), not {self.group_size}")
        return self


class GptqParams(Rtn4Params):
    group_size: int = Field(
        128,
        ge=16,
        le=1024,
        description="Weights per scale; 128 is the usual GPTQ setting, 32 matches GGUF Q4_0.",
    )
    damp_percent: float = Field(
        0.01, gt=0.0, le=1.0, description="Share of the mean Hessian diagonal added for numerical stability."
    )
    calibration_samples: int = Field(
        128, ge=4, le=4096, description="Calibration windows the layer statistics are measured on."
    )
    calibration_seq_len: int = Field(512, ge=16, le=8192, description="Tokens per calibration window.")
    block_size: int = Field(
        128, ge=16, le=4096, description="Columns updated together (the paper's lazy batch); speed only."
    )
    bias_correction: bool = Field(
        True,
        description="Shift the biases of layers that have them by the mean output error on calibration data.",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Which calibration windows are drawn.")
    hessian_shrinkage: bool = Field(
        True,
        description="Shrink each layer's input correlations toward their diagonal by inputs / (inputs + "
        "calibration tokens): with less calibration text than a layer has inputs, GPTQ leans less on "
        "correlations it could not measure (round-to-nearest in the limit).",
    )

    @model_validator(mode="after")
    def _block_holds_groups(self) -> GptqParams:
        if self.block_size % self.group_size:
            raise ValueError(
                f"block_size ({self.block_size}) must be a multiple of group_size ({self.group_size})"
            )
        return self


class ImatrixParams(_Strict):
    """The importance matrix of the GGUF k-quant outputs (llama.cpp's ``llama-imatrix``)."""

    enabled: bool = Field(
        True,
        description="Weight the k-quants' rounding by each input column's mean squared activation on "
        "the calibration text, so the weights the data leans on are kept more exactly.",
    )
    calibration_samples: int = Field(
        64, ge=1, le=4096, description="Calibration windows the importance matrix is measured on."
    )
    calibration_seq_len: int = Field(512, ge=16, le=8192, description="Tokens per calibration window.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Which calibration rows come first.")
