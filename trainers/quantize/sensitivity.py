"""How much each Linear's quantization costs the model: the menu of choices and the measurement.

A layer's sensitivity to a choice (4 bits, GGUF Q5_0, ...) is how much the model's loss on the
calibration windows grows when only that layer is quantized that way and every other layer stays in
full precision (Hubara et al., 2021, section 4: the per-layer increases add up to a good estimate
of the whole model's). The loss is the KL divergence from the full-precision model's own next-token
distribution by default (the distillation loss: never negative, so rounding noise that happens to
lower the calibration loss cannot make a narrow width look free), or the plain next-token loss.
Measuring costs one forward pass of the calibration windows per layer and choice; the reference
log-probabilities are kept in float16 (windows × seq_len × vocabulary × 2 bytes).

Two menus: integer widths in groups (what the transformers-loadable output stores), and the GGUF
block types llama.cpp reads (measured with ggml's own reference quantizer from ``gguf.quants``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gguf
import numpy as np
import torch

from trainers.quantize.budget import GGUF_BITS_PER_WEIGHT
from trainers.quantize.checkpoint import decoder_layers
from trainers.quantize.intn import quantize_groupwise
from trainers.quantize.params_mixed import stored_bits_per_weight

BATCH_WINDOWS = 8


@dataclass(frozen=True)
class Choice:
    name: str  # "int4", "Q5_0"
    bits_per_weight: float  # stored, scales included
    fake_quantize: Callable[[torch.Tensor], torch.Tensor]  # [out, in] float -> dequantized [out, in]

    def bytes_for(self, shape: tuple[int, int]) -> float:
        return shape[0] * shape[1] * self.bits_per_weight / 8


def width_menu(bits: list[int], group_size: int, symmetric: bool) -> list[Choice]:
    def rounding(width: int) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda w: quantize_groupwise(w, width, group_size, symmetric).dequantize()

    return [Choice(f"int{b}", stored_bits_per_weight(b, group_size), rounding(b)) for b in bits]


def gguf_menu() -> list[Choice]:
    def rounding(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        qtype = gguf.GGMLQuantizationType[name]

        def fake(w: torch.Tensor) -> torch.Tensor:
            data = w.detach().float().cpu().numpy()
            back = gguf.quants.dequantize(gguf.quants.quantize(data, qtype), qtype)
            return torch.from_numpy(np.ascontiguousarray(back)).reshape(w.shape).to(w.device)

        return fake

    return [Choice(name, bpw, rounding(name)) for name, bpw in GGUF_BITS_PER_WEIGHT.items()]


def target_linears(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """Every Linear in the decoder layers, by checkpoint weight name (as ``linear_weight_names``)."""
    prefix, layers = decoder_layers(model)
    return {
        f"{prefix}.{i}.{name}.weight": module
        for i, layer in enumerate(layers)
        for name, module in layer.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


@torch.no_grad()
def calibration_loss(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    """Mean next-token loss over the batches (equal-length windows, so a mean of means)."""
    total = 0.0
    for ids in batches:
        total += float(model(input_ids=ids, labels=ids, use_cache=False).loss)
    return total / len(batches)


@torch.no_grad()
def reference_log_probs(model: torch.nn.Module, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """The full-precision model's next-token log-probabilities per batch, kept in float16."""
    return [
        torch.log_softmax(model(input_ids=ids, use_cache=False).logits.float(), -1).half() for ids in batches
    ]


@torch.no_grad()
def divergence(model: torch.nn.Module, batches: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """Mean per-token KL(full precision ‖ model): the loss against the original model's own predictions."""
    total = 0.0
    for ids, p in zip(batches, reference, strict=True):
        q = torch.log_softmax(model(input_ids=ids, use_cache=False).logits.float(), -1)
        p = p.float()
        total += float((p.exp() * (p - q)).sum(-1).mean())
    return total / len(batches)


@torch.no_grad()
def measure_sensitivity(
    model: torch.nn.Module,
    windows: list[torch.Tensor],
    menus: list[list[Choice]],
    on_layer: Callable[[int, int], None] | None = None,
    measure: str = "kl",
) -> tuple[float, dict[str, dict[str, float]]]:
    """The full-precision calibration loss, and ``{layer: {choice: increase}}`` over all menus: of the
    KL divergence from the full-precision model (``measure`` "kl", never negative, so a choice cannot
    look better than full precision by chance) or of the next-token loss ("loss", the paper's)."""
    device = next(model.parameters()).device
    step = BATCH_WINDOWS
    batches = [torch.cat(windows[i : i + step]).to(device) for i in range(0, len(windows), step)]
    base = calibration_loss(model, batches)
    if measure == "kl":
        reference = reference_log_probs(model, batches)
        cost, floor = (lambda: divergence(model, batches, reference)), 0.0
    else:
        cost, floor = (lambda: calibration_loss(model, batches)), base
    found: dict[str, dict[str, float]] = {}
    targets = target_linears(model)
    for done, (name, module) in enumerate(targets.items(), start=1):
        original = module.weight.data
        found[name] = {}
        for choice in (c for menu in menus for c in menu):
            module.weight.data = choice.fake_quantize(original.float()).to(original.dtype)
            found[name][choice.name] = cost() - floor
        module.weight.data = original
        if on_layer is not None:
            on_layer(done, len(targets))
    return base, found
