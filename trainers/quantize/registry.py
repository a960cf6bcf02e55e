"""Every quantize method Hone offers, in one explicit dict. Importing this module does not import torch.

Adding a method is one entry here (its parameter group in ``trainers.quantize.params`` and a field
of that name on ``QuantizeSpec``); the spec, the checks, the job and the catalogue ask this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainers.lookup import lookup
from trainers.quantize.method import QuantizeMethod
from trainers.quantize.params import GptqParams, Rtn4Params
from trainers.quantize.params_mixed import AwqParams, MixedParams
from trainers.spec import SpecError


def _rtn_int8(weight: Any, params: None) -> Any:
    from trainers.quantize.rtn import quantize_int8_per_channel

    return quantize_int8_per_channel(weight)


def _rtn_int4(weight: Any, params: Rtn4Params) -> Any:
    from trainers.quantize.rtn import quantize_int4_groupwise

    return quantize_int4_groupwise(weight, params.group_size, params.symmetric)


def _gptq_int4(model: Any, windows: list, p: GptqParams, on_layer: Callable[[int, int], None]) -> Any:
    from trainers.quantize.gptq import GptqSettings, gptq_model

    settings = GptqSettings(
        p.group_size, p.symmetric, p.damp_percent, p.block_size, p.bias_correction, p.hessian_shrinkage
    )
    return gptq_model(model, windows, settings, on_layer=on_layer)


def _mixed(
    model: Any, windows: list, p: MixedParams, on_layer: Callable[[int, int], None], outputs: list
) -> Any:
    from trainers.quantize.mixed import mixed_model

    return mixed_model(model, windows, p, on_layer, tuple(outputs))


def _check_mixed(p: MixedParams, shapes: dict[str, tuple[int, int]], outputs: list[str]) -> None:
    from trainers.quantize.budget import check_budget

    check_budget(p, shapes, outputs)


def _awq_int4(model: Any, windows: list, p: AwqParams, on_layer: Callable[[int, int], None]) -> Any:
    from trainers.quantize.awq import awq_model

    return awq_model(model, windows, p, on_layer)


def _check_awq(p: AwqParams, shapes: dict[str, tuple[int, int]], outputs: list[str]) -> None:
    from trainers.quantize.awq import check_awq_layers

    check_awq_layers(shapes)


METHODS: dict[str, QuantizeMethod] = {
    method.name: method
    for method in (
        QuantizeMethod(
            name="rtn_int8",
            title="int8, round to nearest",
            description="Symmetric int8 with one scale per output channel: fast, nearly lossless, half the "
            "size of fp16.",
            bits=8,
            quantize_tensor=_rtn_int8,
        ),
        QuantizeMethod(
            name="rtn_int4",
            title="int4, round to nearest",
            description="int4 in groups of group_size weights, each with its own scale: a quarter of fp16, "
            "some loss.",
            bits=4,
            params=Rtn4Params,
            quantize_tensor=_rtn_int4,
        ),
        QuantizeMethod(
            name="gptq_int4",
            title="int4 with GPTQ",
            description="GPTQ int4 in groups, layer by layer on calibration text, with bias correction: the "
            "best 4-bit quality. Give a calibration dataset of your own domain, or built-in text is used.",
            bits=4,
            params=GptqParams,
            quantize_model=_gptq_int4,
            paper="https://arxiv.org/abs/2210.17323",
            compressed_tensors=True,
        ),
        QuantizeMethod(
            name="awq_int4",
            title="int4 with AWQ",
            description="Activation-aware int4 in groups: scales up the input channels that see large "
            "activations before rounding, and searches each group's clipping range, on calibration text. "
            "Writes a compressed-tensors model vLLM loads.",
            bits=4,
            params=AwqParams,
            quantize_model=_awq_int4,
            paper="https://arxiv.org/abs/2306.00978",
            check=_check_awq,
            compressed_tensors=True,
        ),
        QuantizeMethod(
            name="mixed_precision",
            title="Mixed precision under a budget",
            description="A width per layer (2, 3, 4 or 8 bits) chosen by integer program from each layer's "
            "measured sensitivity, for a size budget (bits per weight or bytes) or a loss budget; GGUF "
            "outputs get per-tensor Q4_0/Q5_0/Q8_0 types.",
            bits=4,
            params=MixedParams,
            quantize_model=_mixed,
            paper="https://arxiv.org/abs/2006.10518",
            wants_outputs=True,
            check=_check_mixed,
        ),
    )
}


class UnknownMethod(SpecError):
    pass


def get(name: str) -> QuantizeMethod:
    return lookup(METHODS, name, UnknownMethod, "quantize method")
