"""The quantize job spec (kind "quantize"): one full-precision model in, quantized files out.

Methods and their parameters:

- ``rtn_int8``: round-to-nearest, symmetric int8 with one scale per output channel. No parameters.
- ``rtn_int4``: round-to-nearest int4 in groups of ``group_size`` input columns, each group with
  its own scale (and zero point unless ``symmetric``).
- ``gptq_int4``: GPTQ (Frantar et al., 2022) int4 in groups, layer by layer on calibration text,
  with bias correction for layers that have biases.

- ``awq_int4``: AWQ (Lin et al., 2023) activation-aware scales and clipping, then int4 in groups.
- ``mixed_precision``: a width per Linear (2/3/4/8 bits) chosen by integer program under a size or
  loss budget (Hubara et al., 2021); GGUF outputs get per-tensor Q4_0/Q5_0/Q8_0 types.

Outputs: ``torchao`` (a model directory that ``transformers`` loads back quantized, see
trainers/quantize/torchao_export.py), ``gguf_q8_0`` and ``gguf_q4_0`` (single GGUF files for
llama.cpp-family runtimes, see trainers/quantize/gguf_export.py), the GGUF k-quant mixes
``gguf_q4_k_m``, ``gguf_q5_k_m`` and ``gguf_q6_k``, their rounding weighted by an importance matrix
measured on the calibration text (``imatrix``; llama.cpp's ``--imatrix``) unless it is turned off,
and ``compressed_tensors`` (a model directory vLLM serves, from awq_int4 or gptq_int4, see
trainers/quantize/compressed_tensors_export.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from trainers.quantize import registry
from trainers.quantize.method import QuantizeMethod
from trainers.quantize.params import GptqParams, ImatrixParams, Rtn4Params
from trainers.quantize.params_mixed import AwqParams, MixedParams
from trainers.spec import SPEC_VERSION, DatasetRef, EventsSink, ModelRef, _Strict
from trainers.spec_evaluate import DEFAULT_PROMPTS

# The registry's names (trainers/quantize/registry.py); each method with parameters has a field here.
QuantizeMethodName = Literal[tuple(registry.METHODS)]  # type: ignore[valid-type]
QuantizeOutput = Literal[
    "torchao", "gguf_q8_0", "gguf_q4_0", "gguf_q4_k_m", "gguf_q5_k_m", "gguf_q6_k", "compressed_tensors"
]
K_QUANT_OUTPUTS = ("gguf_q4_k_m", "gguf_q5_k_m", "gguf_q6_k")
GGUF_Q4_0_GROUP = 32  # a Q4_0 block: 32 weights sharing one fp16 scale, symmetric

__all__ = [
    "AwqParams", "GptqParams", "ImatrixParams", "K_QUANT_OUTPUTS", "MixedParams", "QuantizeOutput",
    "QuantizeSpec", "Rtn4Params",
]


class QuantizeSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["quantize"] = "quantize"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    model: ModelRef
    method: QuantizeMethodName
    rtn_int4: Rtn4Params = Rtn4Params()
    gptq_int4: GptqParams = GptqParams()
    awq_int4: AwqParams = AwqParams()
    mixed_precision: MixedParams = MixedParams(bits_budget=4.5)
    imatrix: ImatrixParams = ImatrixParams()
    calibration: DatasetRef | None = Field(
        None,
        description="Text to calibrate GPTQ and the GGUF k-quants' importance matrix on; without it a "
        "built-in English text set is used.",
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
        method = self.quantize_method
        if self.calibration is not None and not (method.calibrated or self.uses_imatrix):
            calibrated = ", ".join(m.name for m in registry.METHODS.values() if m.calibrated)
            raise ValueError(
                f"calibration: only {calibrated} and the GGUF k-quant outputs' importance matrix "
                f"({', '.join(K_QUANT_OUTPUTS)}) use calibration data, not {self.method} alone"
            )
        if "compressed_tensors" in self.outputs and not method.compressed_tensors:
            able = ", ".join(m.name for m in registry.METHODS.values() if m.compressed_tensors)
            raise ValueError(f"outputs: compressed_tensors is written by {able}, not {self.method}")
        if "compressed_tensors" in self.outputs and not self.method_params().symmetric:
            raise ValueError(
                f"outputs: compressed_tensors is written with symmetric groups (vLLM's W4A16 scheme, which "
                f"transformers loads back); set {self.method}.symmetric true, or drop compressed_tensors"
            )
        if method.quantize_model is not None and not method.wants_outputs and "gguf_q4_0" in self.outputs:
            # Its integers are computed before writing, so they must already be on Q4_0's grid.
            p, name = self.method_params(), self.method
            if p.group_size != GGUF_Q4_0_GROUP or not p.symmetric:
                raise ValueError(
                    f"outputs: GGUF Q4_0 stores symmetric 4-bit blocks of 32 weights, so a {name} result "
                    f"fits it only with {name}.group_size 32 and {name}.symmetric true; "
                    "set both, or drop gguf_q4_0"
                )
        return self

    @property
    def uses_imatrix(self) -> bool:
        """Whether an importance matrix is measured: a k-quant GGUF output with imatrix.enabled."""
        return self.imatrix.enabled and any(output in K_QUANT_OUTPUTS for output in self.outputs)

    @property
    def quantize_method(self) -> QuantizeMethod:
        return registry.get(self.method)

    def method_params(self) -> BaseModel | None:
        """The chosen method's parameter group (the field named after it); None where it takes none."""
        return getattr(self, self.method) if self.quantize_method.params is not None else None

    @property
    def params(self) -> dict:
        """The chosen method's parameters (empty for rtn_int8)."""
        chosen = self.method_params()
        return chosen.model_dump() if chosen else {}
