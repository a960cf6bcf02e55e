"""Mixed precision under a budget (Hubara et al., 2021, "Improving post-training neural quantization:
layer-wise calibration and integer programming", arXiv:2006.10518).

Reads top to bottom in ``mixed_model``: measure every Linear's sensitivity to each width on the
calibration windows (``sensitivity``), choose one width per Linear by integer program under the
size or accuracy budget (``allocate``), then quantize each Linear at its width, layer by layer on the
calibration stream when AdaQuant or bias correction needs its inputs. A GGUF output gets its own
allocation over the block types llama.cpp reads (Q4_0, Q5_0, Q8_0), measured the same way, under the
same budget.

The transformers-loadable output is torchao's (each Linear an ``IntxUnpackedToInt8Tensor`` of its
own width, and a per-module ``FqnToConfig`` in config.json); the GGUF file has per-tensor types.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from trainers.quantize.adaquant import output_error, rtn_then_adaquant
from trainers.quantize.allocate import Allocation, allocate
from trainers.quantize.budget import GGUF_OUTPUTS, budget_bytes
from trainers.quantize.checkpoint import decoder_layers
from trainers.quantize.gptq import GptqResult, InputStats, capture_layer_inputs, collect_input_stats
from trainers.quantize.params_mixed import MixedParams
from trainers.quantize.sensitivity import Choice, gguf_menu, measure_sensitivity, width_menu

log = logging.getLogger("trainers")


@dataclass
class MixedResult(GptqResult):
    widths: dict[str, int] = field(default_factory=dict)  # checkpoint weight name -> bits
    gguf_types: dict[str, str] = field(default_factory=dict)  # checkpoint weight name -> GGUF type
    summary: dict = field(default_factory=dict)  # for the report

    def torchao_config(self) -> dict:
        """config.json's ``quantization_config``: one IntxWeightOnlyConfig per module, at its width."""
        from torchao.quantization import FqnToConfig, IntxWeightOnlyConfig, MappingType, PerGroup
        from transformers import TorchAoConfig

        per_module = {}
        for name, weight in self.weights.items():
            mapping = MappingType.SYMMETRIC if weight.symmetric else MappingType.ASYMMETRIC
            per_module[name.removesuffix(".weight")] = IntxWeightOnlyConfig(
                weight_dtype=getattr(torch, f"int{weight.bits}"),
                granularity=PerGroup(weight.group_size),
                mapping_type=mapping,
            )
        return TorchAoConfig(FqnToConfig(per_module)).to_dict()


def sizes(shapes: dict[str, tuple[int, int]], menu: list[Choice]) -> dict[str, dict[str, float]]:
    return {name: {c.name: c.bytes_for(shape) for c in menu} for name, shape in shapes.items()}


def choose(loss: dict, shapes: dict, menu: list[Choice], p: MixedParams) -> Allocation:
    table = {name: {c.name: loss[name][c.name] for c in menu} for name in shapes}
    return allocate(
        table, sizes(shapes, menu), bytes_budget=budget_bytes(p, shapes), loss_budget=p.loss_budget
    )


@torch.no_grad()
def mixed_model(
    model: Any,
    windows: list[torch.Tensor],
    p: MixedParams,
    on_layer: Callable[[int, int], None] | None = None,
    outputs: tuple[str, ...] = (),
) -> MixedResult:
    """Choose and apply a width per Linear; ``model`` ends up holding the dequantized weights."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    widths = width_menu(p.bits, p.group_size, p.symmetric)
    menus = [widths] + ([gguf_menu()] if any(o in GGUF_OUTPUTS for o in outputs) else [])
    base, loss = measure_sensitivity(model, windows, menus, on_layer, p.sensitivity)
    shapes = {name: tuple(m.weight.shape) for name, m in _linears(model).items()}
    chosen = choose(loss, shapes, widths, p)
    result = MixedResult()
    result.widths = {name: int(option.removeprefix("int")) for name, option in chosen.choice.items()}
    gguf_chosen = choose(loss, shapes, menus[1], p) if len(menus) > 1 else None
    if gguf_chosen is not None:
        result.gguf_types = dict(gguf_chosen.choice)
    apply_widths(model, windows, p, result)
    model.to("cpu")
    result.summary = summary(base, loss, chosen, gguf_chosen, shapes)
    log.info(f"mixed_precision: widths {_counts(result.widths)}, {chosen.size_bytes:,.0f} bytes")
    return result


def _linears(model: Any) -> dict[str, torch.nn.Linear]:
    from trainers.quantize.sensitivity import target_linears

    return target_linears(model)


def apply_widths(model: Any, windows: list[torch.Tensor], p: MixedParams, result: MixedResult) -> None:
    """Quantize each Linear at its width: plain round-to-nearest, or layer by layer on the calibration
    stream (each layer seeing the quantized layers before it) when AdaQuant or bias correction asks."""
    prefix, layers = decoder_layers(model)
    needs_inputs = p.layerwise_calibration or (
        p.bias_correction and any(m.bias is not None for m in _linears(model).values())
    )
    inputs, arguments = [], {}
    if needs_inputs:
        batches = [torch.cat(windows[i : i + 8]) for i in range(0, len(windows), 8)]
        inputs, arguments = capture_layer_inputs(model, layers[0], batches)
    for index, layer in enumerate(layers):
        linears = {n: m for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}
        stats = collect_input_stats(layer, linears, inputs, arguments) if needs_inputs else {}
        for name, module in linears.items():
            key = f"{prefix}.{index}.{name}"
            quantize_linear(module, key, stats.get(name), p, result)
        if needs_inputs:
            for j, x in enumerate(inputs):
                output = layer(x, **arguments)
                inputs[j] = output[0] if isinstance(output, tuple) else output


def quantize_linear(
    module: torch.nn.Linear, key: str, stats: InputStats | None, p: MixedParams, result: MixedResult
) -> None:
    original = module.weight.float()
    bits = result.widths[f"{key}.weight"]
    hessian = stats.hessian if (stats is not None and p.layerwise_calibration) else None
    quantized = rtn_then_adaquant(
        original.cpu(),
        None if hessian is None else hessian.cpu(),
        bits,
        p.group_size,
        p.symmetric,
        p.layerwise_steps,
    )
    dequantized = quantized.dequantize().to(original.device)
    if stats is not None:
        result.losses[f"{key}.weight"] = float(output_error(original, dequantized, stats.hessian))
    if module.bias is not None and p.bias_correction and stats is not None:
        module.bias += ((original - dequantized) @ stats.mean).to(module.bias.dtype)
        result.biases[f"{key}.bias"] = module.bias.detach().cpu().clone()
    module.weight.copy_(dequantized.to(module.weight.dtype))
    result.weights[f"{key}.weight"] = quantized


def summary(base: float, loss: dict, chosen: Allocation, gguf: Allocation | None, shapes: dict) -> dict:
    weights = sum(o * i for o, i in shapes.values())
    found = {
        "calibration_loss": base,
        "sensitivity": loss,
        "widths": chosen.choice,
        "bytes": chosen.size_bytes,
        "bits_per_weight": 8 * chosen.size_bytes / weights,
        "estimated_loss_increase": chosen.loss_increase,
    }
    if gguf is not None:
        found["gguf"] = {
            "types": gguf.choice,
            "bytes": gguf.size_bytes,
            "bits_per_weight": 8 * gguf.size_bytes / weights,
            "estimated_loss_increase": gguf.loss_increase,
        }
    return found


def _counts(choice: dict[str, int]) -> str:
    counted: dict[int, int] = {}
    for bits in choice.values():
        counted[bits] = counted.get(bits, 0) + 1
    return ", ".join(f"{n}× {b}-bit" for b, n in sorted(counted.items()))
