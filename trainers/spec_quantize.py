"""The quantize job spec (kind "quantize"): one full-precision model in, quantized files out.

Methods and their parameters:

- ``rtn_int8``: round-to-nearest, symmetric int8 with one scale per output channel. No parameters.
- ``rtn_int4``: round-to-nearest int4 in groups of ``group_size`` input columns, each group with
  its own scale (and zero point unless ``symmetric``).
- ``gptq_int4``: GPTQ (Frantar et al., 2022) int4 in groups, layer by layer on calibration text,
  with bias correction for layers that have biases.

Outputs: ``torchao`` (a model directory that ``transformers`` loads back quantized, see
trainers/quantize/torchao_export.py), ``gguf_q8_0`` and ``gguf_q4_0`` (single GGUF files for
llama.cpp-family runtimes, see trainers/quantize/gguf_export.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainers.spec import SPEC_VERSION, DatasetRef, EventsSink, ModelRef, _Strict
from trainers.spec_evaluate import DEFAULT_PROMPTS

QuantizeMethod = Literal["rtn_int8", "rtn_int4", "gptq_int4"]
QuantizeOutput = Literal["torchao", "gguf_q8_0", "gguf_q4_0"]
GGUF_Q4_0_GROUP = 32  # a Q4_0 block: 32 weights sharing one fp16 scale, symmetric


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

    @model_validator(mode="after")
    def _block_holds_groups(self) -> GptqParams:
        if self.block_size % self.group_size:
            raise ValueError(
                f"block_size ({self.block_size}) must be a multiple of group_size ({self.group_size})"
            )
        return self


class QuantizeSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["quantize"] = "quantize"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    model: ModelRef
    method: QuantizeMethod
    rtn_int4: Rtn4Params = Rtn4Params()
    gptq_int4: GptqParams = GptqParams()
    calibration: DatasetRef | None = Field(
        None, description="Text to calibrate GPTQ on; without it a built-in English text set is used."
    )
    eval_texts: DatasetRef | None = Field(
        None, description="Held-out text for perplexity before and after; without it built-in passages."
    )
    max_eval_texts: int = Field(200, ge=1, le=100_000, description="At most this many rows are evaluated.")
    eval_max_length: int = Field(512, ge=16, le=32768, description="Tokens per perplexity window.")
    prompts: list[str] = Field(
        list(DEFAULT_PROMPTS), max_length=50, description="Prompts generated from before and after."
    )
    max_new_tokens: int = Field(32, ge=1, le=1024)
    outputs: list[QuantizeOutput] = Field(["torchao"], min_length=1)
    output_dir: str = Field(min_length=1)
    events: EventsSink = EventsSink()

    @model_validator(mode="after")
    def _consistent(self) -> QuantizeSpec:
        if self.model.path is None:
            raise ValueError(
                "model.path: quantization reads the weights file by file; give a local model directory"
            )
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError("outputs: each output format may appear once")
        if self.calibration is not None and self.method != "gptq_int4":
            raise ValueError(f"calibration: only gptq_int4 uses calibration data, not {self.method}")
        if self.method == "gptq_int4" and "gguf_q4_0" in self.outputs:
            p = self.gptq_int4
            if p.group_size != GGUF_Q4_0_GROUP or not p.symmetric:
                raise ValueError(
                    "outputs: GGUF Q4_0 stores symmetric 4-bit blocks of 32 weights, so a GPTQ result "
                    "fits it only with gptq_int4.group_size 32 and gptq_int4.symmetric true; "
                    "set both, or drop gguf_q4_0"
                )
        return self

    @property
    def params(self) -> dict:
        """The chosen method's parameters (empty for rtn_int8)."""
        chosen = {"rtn_int4": self.rtn_int4, "gptq_int4": self.gptq_int4}.get(self.method)
        return chosen.model_dump() if chosen else {}
