"""QLoRA (Dettmers et al. 2023): LoRA on a base model loaded in 4-bit NF4 through bitsandbytes.

The base model is quantized as it loads (``load_options`` gives ``from_pretrained`` its
``BitsAndBytesConfig``), made ready for k-bit training by peft (norms in fp32, inputs that
require grad, optional gradient checkpointing), then given a LoRA adapter from the spec's
``lora`` group. bitsandbytes' 4-bit kernels need a CUDA GPU: elsewhere the method is refused
before anything loads.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodError, MethodParams, Prepared, TrainMethod
from trainers.methods.lora import attach_lora
from trainers.spec import LoraParams

NO_CUDA = "QLoRA needs a CUDA GPU; this machine has none — use LoRA"


class QLoraParams(MethodParams):
    quant_type: Literal["nf4", "fp4"] = Field(
        "nf4", description="4-bit data type of the frozen base; NF4 suits normally distributed weights."
    )
    double_quant: bool = Field(
        True, description="Quantize the quantization constants too (saves ~0.4 bit/weight)."
    )
    compute_dtype: Literal["bfloat16", "float16"] = Field(
        "bfloat16", description="Dtype the 4-bit weights are dequantized to for each matmul."
    )
    gradient_checkpointing: bool = Field(
        True, description="Recompute activations in the backward pass: much less memory, ~30% slower."
    )


def check_machine() -> None:
    import torch

    if not torch.cuda.is_available():
        raise MethodError(f"method: {NO_CUDA}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MethodError(
            "method: QLoRA needs the bitsandbytes package on the training machine (pip install 'hone[gpu]')"
        )


def load_options(params: QLoraParams) -> dict:
    """``from_pretrained`` arguments that load the base in 4 bits on the current GPU."""
    import torch
    from transformers import BitsAndBytesConfig

    check_machine()
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=params.quant_type,
        bnb_4bit_use_double_quant=params.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, params.compute_dtype),
    )
    return {"quantization_config": quantization, "device_map": {"": torch.cuda.current_device()}}


def apply_qlora(model: Any, params: QLoraParams, ctx: Context) -> Prepared:
    from peft import prepare_model_for_kbit_training

    lora = ctx.lora or LoraParams()
    if lora.init in ("pissa", "olora"):
        raise MethodError(
            f"lora.init: {lora.init} decomposes full-precision weights and cannot start from a 4-bit base; "
            "use init 'default' or 'gaussian' with QLoRA, or LoRA without quantization"
        )
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=params.gradient_checkpointing)
    return attach_lora(model, lora, ctx)


METHOD = TrainMethod(
    name="qlora",
    title="QLoRA (4-bit base + LoRA)",
    description="LoRA on a base model held in 4-bit NF4: about a quarter of the weight memory. "
    "Needs a CUDA GPU.",
    paper="https://arxiv.org/abs/2305.14314",
    apply=apply_qlora,
    method_params=QLoraParams,
    uses_lora_group=True,
    needs_cuda=True,
    load_options=load_options,
)
