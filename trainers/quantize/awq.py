"""AWQ (Lin et al., 2023, "Activation-aware Weight Quantization", arXiv:2306.00978), as AutoAWQ does it.

A few input channels of each Linear see much larger activations than the rest, and their weights
matter most. Scaling those weight columns up by ``s`` (and the op that feeds them down by ``s``, so
the float model is unchanged) makes their rounding error relatively smaller. Per decoder layer, for
each group of Linears that read the same input (AutoAWQ's Llama layout below):

- ``s = x̄^α / w̄^(1-α)`` (``duo_scaling``; else ``x̄^α``), normalised by ``√(max s · min s)``, where x̄
  is the mean |activation| per input channel on the calibration tokens and w̄ the mean of each
  weight's magnitude relative to its group's maximum; α on a grid of ``grid`` points in [0, 1] is the
  one whose round-to-nearest int4 layer output is closest (MSE) to the float layer's;
- the chosen ``s`` is folded in: the feeding RMSNorm's weight (or Linear's rows) divided by it, the
  group's weight columns multiplied;
- clipping (``clip``): per output row and group, the range ``max|w| · (1 - i/clip_grid)`` for
  ``i < max_shrink · clip_grid`` that gives the smallest output error on the calibration inputs
  (skipped for q and k, whose errors the softmax amplifies, as in AutoAWQ);
- then round-to-nearest int4 in groups (``rtn.quantize_int4_groupwise``).

Layers run in order; each sees the outputs of the quantized layers before it, as GPTQ's do. The
changed norms (and biases) are returned with the integers, so every output writes the scaled model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from trainers.quantize.checkpoint import decoder_layers
from trainers.quantize.gptq import GptqResult, capture_layer_inputs
from trainers.quantize.params_mixed import AwqParams
from trainers.quantize.rtn import quantize_int4_groupwise
from trainers.spec import SpecError

# (the op feeding the group, the Linears reading its output): AutoAWQ's LlamaAWQForCausalLM layout.
SCALE_GROUPS = (
    ("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
    ("self_attn.v_proj", ("self_attn.o_proj",)),
    ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")),
    ("mlp.up_proj", ("mlp.down_proj",)),
)
LINEARS = {name for _prev, group in SCALE_GROUPS for name in group}
NOT_CLIPPED = ("q_proj", "k_proj")
CLIP_TOKENS = 512  # calibration tokens the clipping search measures on (AutoAWQ's n_sample_token)
CLIP_ROWS = 64  # output rows searched together (memory: rows × tokens × columns floats)
BATCH_WINDOWS = 8


@dataclass
class AwqSettings:
    group_size: int
    symmetric: bool
    grid: int = 20
    duo_scaling: bool = True
    clip: bool = True
    clip_grid: int = 20
    max_shrink: float = 0.5


def check_awq_layers(shapes: dict[str, tuple[int, int]]) -> None:
    """Refuse a model whose decoder layers are not the Llama layout AWQ's scale groups are defined on."""
    found = {name.split(".", 3)[-1].removesuffix(".weight") for name in shapes}
    if found != LINEARS:
        shown = ", ".join(sorted(found - LINEARS) or sorted(LINEARS - found))
        raise SpecError(
            f"method: awq_int4 knows Llama-style decoder layers (q/k/v/o and gate/up/down projections); "
            f"this model differs ({shown}). Use gptq_int4"
        )


def fake_int4(weight: torch.Tensor, s: AwqSettings) -> torch.Tensor:
    return quantize_int4_groupwise(weight, s.group_size, s.symmetric).dequantize().to(weight.device)


def weight_magnitude(weights: list[torch.Tensor], group_size: int) -> torch.Tensor:
    """w̄: each weight's |w| relative to its group's largest, averaged over the output rows [in]."""
    w = torch.cat(weights).float()
    groups = w.abs().reshape(-1, group_size)
    relative = groups / (groups.amax(dim=1, keepdim=True) + 1e-6)
    return relative.reshape(w.shape).mean(dim=0)


def layer_error(layer: torch.nn.Module, inputs: list, arguments: dict, targets: list) -> float:
    total = 0.0
    for x, target in zip(inputs, targets, strict=True):
        output = layer(x, **arguments)
        output = output[0] if isinstance(output, tuple) else output
        total += float((output - target).pow(2).mean())
    return total / len(inputs)


def search_scale(
    layer: torch.nn.Module,
    linears: list[torch.nn.Linear],
    x_mean: torch.Tensor,
    inputs: list,
    arguments: dict,
    targets: list,
    s: AwqSettings,
) -> tuple[torch.Tensor, float]:
    """The grid's best per-channel scale for ``linears`` [in], and its layer output error."""
    originals = [m.weight.data.clone() for m in linears]
    w_mean = weight_magnitude(originals, s.group_size)
    best, best_scale = float("inf"), torch.ones_like(x_mean)
    for step in range(s.grid):
        ratio = step / s.grid
        if s.duo_scaling:
            scale = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
        else:
            scale = x_mean.pow(ratio).clamp(min=1e-4)
        scale = scale / (scale.max() * scale.min()).sqrt()
        for module, weight in zip(linears, originals, strict=True):
            module.weight.data = fake_int4(weight * scale, s) / scale
        error = layer_error(layer, inputs, arguments, targets)
        if error < best:
            best, best_scale = error, scale.clone()
    for module, weight in zip(linears, originals, strict=True):
        module.weight.data = weight
    return best_scale, best


def fold_scale(feeding: torch.nn.Module, linears: list[torch.nn.Linear], scale: torch.Tensor) -> None:
    """Divide the feeding op's output by ``scale`` and multiply the readers' columns: the float
    layer computes the same function."""
    if isinstance(feeding, torch.nn.Linear):
        feeding.weight.data.div_(scale.view(-1, 1))
    else:
        feeding.weight.data.div_(scale)
    if getattr(feeding, "bias", None) is not None:
        feeding.bias.data.div_(scale)
    for module in linears:
        module.weight.data.mul_(scale.view(1, -1))


def search_clip(weight: torch.Tensor, x: torch.Tensor, s: AwqSettings) -> torch.Tensor:
    """Per output row and group, the largest |w| to keep [out, groups, 1] (AutoAWQ's auto_clip)."""
    out, cols = weight.shape
    g = s.group_size
    x = x.reshape(1, -1, cols // g, g)  # [1, tokens, groups, g]
    best_max = []
    for start in range(0, out, CLIP_ROWS):
        w = weight[start : start + CLIP_ROWS].reshape(-1, 1, cols // g, g)
        original_max = w.abs().amax(dim=-1, keepdim=True)  # [rows, 1, groups, 1]
        reference = (x * w).sum(dim=-1)  # [rows, tokens, groups]
        lowest = torch.full(original_max.shape, float("inf"))
        chosen = original_max.clone()
        for i in range(int(s.max_shrink * s.clip_grid)):
            limit = original_max * (1 - i / s.clip_grid)
            clipped = torch.clamp(w, -limit, limit).reshape(-1, cols)
            q = fake_int4(clipped, s).reshape(w.shape)
            error = ((x * q).sum(dim=-1) - reference).pow(2).mean(dim=1).reshape(lowest.shape)
            better = error < lowest
            lowest[better], chosen[better] = error[better], limit[better]
        best_max.append(chosen.reshape(-1, cols // g, 1))
    return torch.cat(best_max)


def clip_weight(weight: torch.Tensor, limit: torch.Tensor, group_size: int) -> torch.Tensor:
    out, cols = weight.shape
    groups = weight.reshape(out, cols // group_size, group_size)
    return torch.clamp(groups, -limit, limit).reshape(out, cols)


class AwqResult(GptqResult):
    """Integers per Linear (``weights``); ``biases`` holds every float tensor the scales changed
    (norm weights, and biases of Linears that have them), by checkpoint name."""


@torch.no_grad()
def record_inputs(layer: torch.nn.Module, inputs: list, arguments: dict) -> dict[str, torch.Tensor]:
    """Each Linear's inputs on the calibration batches, flattened [tokens, in]."""
    seen: dict[str, list[torch.Tensor]] = {}

    def hook_for(name: str) -> Callable:
        def hook(module: torch.nn.Module, args: tuple) -> None:
            seen.setdefault(name, []).append(args[0].reshape(-1, args[0].shape[-1]).float())

        return hook

    modules = dict(layer.named_modules())
    handles = [modules[name].register_forward_pre_hook(hook_for(name)) for name in LINEARS]
    try:
        for x in inputs:
            layer(x, **arguments)
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(parts) for name, parts in seen.items()}


def clip_sample(x: torch.Tensor) -> torch.Tensor:
    step = max(1, x.shape[0] // CLIP_TOKENS)
    return x[::step][:CLIP_TOKENS]


@torch.no_grad()
def awq_layer(
    layer: torch.nn.Module, key: str, inputs: list, arguments: dict, s: AwqSettings, result: AwqResult
) -> None:
    """Search and fold the scales of one decoder layer, clip, round; the layer ends up dequantized."""
    modules = dict(layer.named_modules())
    features = record_inputs(layer, inputs, arguments)
    targets = [(lambda o: o[0] if isinstance(o, tuple) else o)(layer(x, **arguments)) for x in inputs]
    scales: dict[str, torch.Tensor] = {}
    for feeding_name, names in SCALE_GROUPS:
        feeding, linears = modules[feeding_name], [modules[n] for n in names]
        if isinstance(feeding, torch.nn.Linear) and feeding.out_features != linears[0].in_features:
            continue  # grouped-query attention: v's rows do not line up with o's columns (as AutoAWQ)
        x_mean = features[names[0]].abs().mean(dim=0)
        scale, error = search_scale(layer, linears, x_mean, inputs, arguments, targets, s)
        fold_scale(feeding, linears, scale)
        result.losses[f"{key}.{feeding_name}"] = error
        for name in names:
            scales[name] = scale
        for tensor_name, tensor in feeding.named_parameters():
            if not (isinstance(feeding, torch.nn.Linear) and tensor_name == "weight"):  # rounded below
                result.biases[f"{key}.{feeding_name}.{tensor_name}"] = tensor.detach().cpu().clone()
    for name in sorted(LINEARS):
        module = modules[name]
        weight = module.weight.data.float()
        if s.clip and not name.endswith(NOT_CLIPPED):
            x = clip_sample(features[name]) / scales.get(name, torch.ones(1))
            weight = clip_weight(weight, search_clip(weight, x, s), s.group_size)
        quantized = quantize_int4_groupwise(weight, s.group_size, s.symmetric)
        module.weight.data = quantized.dequantize().to(module.weight.dtype)
        result.weights[f"{key}.{name}.weight"] = quantized


@torch.no_grad()
def awq_model(
    model: Any, windows: list[torch.Tensor], p: AwqParams, on_layer: Callable[[int, int], None] | None = None
) -> AwqResult:
    """AWQ every decoder layer in order; ``model`` ends up holding the scaled, dequantized weights."""
    s = AwqSettings(p.group_size, p.symmetric, p.grid, p.duo_scaling, p.clip, p.clip_grid, p.max_shrink)
    prefix, layers = decoder_layers(model)
    batches = [torch.cat(windows[i : i + BATCH_WINDOWS]) for i in range(0, len(windows), BATCH_WINDOWS)]
    inputs, arguments = capture_layer_inputs(model, layers[0], batches)
    inputs = [x.float() for x in inputs]
    arguments = {k: _float(v) for k, v in arguments.items()}
    result = AwqResult()
    for index, layer in enumerate(layers):
        stored_dtype = next(layer.parameters()).dtype
        layer.float()
        awq_layer(layer, f"{prefix}.{index}", inputs, arguments, s, result)
        for j, x in enumerate(inputs):
            output = layer(x, **arguments)
            inputs[j] = output[0] if isinstance(output, tuple) else output
        layer.to(stored_dtype)
        if on_layer is not None:
            on_layer(index + 1, len(layers))
    return result


def _float(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, tuple):
        return tuple(_float(v) for v in value)
    return value
