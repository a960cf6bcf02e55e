"""GPTQ (Frantar et al., 2022, arXiv:2210.17323): 4-bit weights that keep each layer's outputs close.

Round-to-nearest treats every weight alone. GPTQ quantizes a Linear's columns one at a time and,
after each, moves the not-yet-quantized columns to cancel the error it just made, weighted by how
the layer's inputs co-vary: the Hessian of the layer's squared output error, H = 2 X Xᵀ over the
calibration tokens X. The paper's three practical steps are all here:

- Cholesky form of H⁻¹ (computed once, upper triangular), with damping ``damp_percent`` × the mean
  diagonal added to H for numerical stability (raised tenfold, up to three times, if H is still
  not positive definite);
- lazy batch updates: columns are processed in blocks of ``block_size``; inside a block updates go
  to the block only, and the rest of the matrix gets one accumulated update per block;
- groups: every ``group_size`` columns get fresh scales, chosen from the already-updated weights.

One addition (``hessian_shrinkage``, on by default): H is shrunk toward its diagonal by
d / (d + n) for d inputs and n calibration tokens (``shrink_hessian``). With the job's built-in
passages SmolLM2-135M gets one window of 512 tokens, fewer than its layers' 576 and 1536 inputs;
unshrunk, GPTQ → Q4_0 scored perplexity 29.8 in llama.cpp where round-to-nearest scored 25.8
(fp32 21.1); shrunk, 23.6 (docs/benchmarks.md). With ample calibration text d / (d + n) is ~1 %.

The model is quantized layer by layer (``gptq_model``): the calibration windows run through the
embeddings once, then each decoder layer sees the outputs of the already-quantized layers before
it, as in the paper. After a Linear is quantized, if it has a bias, the bias absorbs the mean output
error on the calibration inputs (empirical bias correction, Nagel et al., 2019):
``b' = b + (W - Q) E[x]``, so the layer's mean output is unchanged.

Memory: the model in its stored dtype, one layer in float32, the calibration activations
(windows × seq_len × hidden × 4 bytes) and one Hessian per distinct Linear input (in × in × 4 bytes).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from trainers.quantize.checkpoint import decoder_layers
from trainers.quantize.rtn import INT4_MAX, QuantizedWeight, int4_scale_zero

WINDOWS_PER_BATCH = 8  # calibration windows run through a layer together (equal lengths, no padding)


@dataclass
class InputStats:
    """Running statistics of a Linear's inputs: H = (2/n) Σ x xᵀ and Σ x over n tokens."""

    hessian: torch.Tensor
    total: torch.Tensor
    tokens: int = 0

    @classmethod
    def empty(cls, features: int, device: torch.device | str = "cpu") -> InputStats:
        return cls(torch.zeros(features, features, device=device), torch.zeros(features, device=device))

    def add(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, x.shape[-1]).float()  # [tokens, in]
        n = x.shape[0]
        self.hessian *= self.tokens / (self.tokens + n)
        self.tokens += n
        scaled = math.sqrt(2 / self.tokens) * x
        self.hessian += scaled.T @ scaled
        self.total += x.sum(dim=0)

    @property
    def mean(self) -> torch.Tensor:
        return self.total / max(self.tokens, 1)


@dataclass
class GptqSettings:
    group_size: int = 128
    symmetric: bool = False
    damp_percent: float = 0.01
    block_size: int = 128
    bias_correction: bool = True
    hessian_shrinkage: bool = True


@dataclass
class GptqResult:
    weights: dict[str, QuantizedWeight] = field(default_factory=dict)
    biases: dict[str, torch.Tensor] = field(default_factory=dict)  # corrected, by checkpoint name
    losses: dict[str, float] = field(default_factory=dict)  # GPTQ's summed output-error proxy per Linear


def inverse_cholesky(hessian: torch.Tensor, damp_percent: float) -> torch.Tensor:
    """Upper Cholesky factor of (H + λI)⁻¹, λ = damp_percent × mean(diag H), more damping if needed."""
    mean_diag = torch.mean(torch.diag(hessian))
    for attempt in range(4):
        damped = hessian + (damp_percent * 10**attempt) * mean_diag * torch.eye(
            len(hessian), device=hessian.device
        )
        try:
            inverse = torch.cholesky_inverse(torch.linalg.cholesky(damped))
            return torch.linalg.cholesky(inverse, upper=True)
        except torch.linalg.LinAlgError:
            continue
    raise ValueError("the calibration Hessian is not positive definite even with 1000× damping")


def shrink_hessian(hessian: torch.Tensor, tokens: int) -> torch.Tensor:
    """The sample Hessian shrunk toward its diagonal by d / (d + n) for d inputs and n tokens.

    From fewer tokens than inputs, H = 2 X Xᵀ is singular: GPTQ then moves weights freely along
    directions the calibration text never exercised, which lowers the error it measures and raises
    it on any other text. Shrinking toward the diagonal (whose GPTQ is round-to-nearest: no error
    is passed on) keeps the measured correlations in proportion to how well they are known.
    """
    features = hessian.shape[0]
    weight = features / (features + max(tokens, 1))
    return (1 - weight) * hessian + weight * torch.diag(torch.diag(hessian))


def gptq_quantize(
    weight: torch.Tensor, hessian: torch.Tensor, s: GptqSettings, tokens: int | None = None
) -> tuple[QuantizedWeight, float]:
    """Quantize one [out, in] weight to int4 groups given its input Hessian [in, in] measured on
    ``tokens`` tokens; returns the loss too (the paper's Σ (w - q)² / [H⁻¹]ᵢᵢ² / 2, a proxy for the
    layer's added output error)."""
    W = weight.float().clone()
    H = hessian.float().clone()
    if s.hessian_shrinkage and tokens is not None:
        H = shrink_hessian(H, tokens)
    out, cols = W.shape
    dead = torch.diag(H) == 0  # inputs that were always zero: their weights cannot matter
    H[dead, dead] = 1
    W[:, dead] = 0
    Hinv = inverse_cholesky(H, s.damp_percent)
    Q = torch.zeros(out, cols, device=W.device)
    scales = torch.zeros(out, cols // s.group_size, device=W.device)
    zeros = torch.zeros_like(scales)
    loss = 0.0
    for start in range(0, cols, s.block_size):
        end = min(start + s.block_size, cols)
        errors = quantize_block(W, Hinv, Q, scales, zeros, start, end, s)
        loss += float((errors**2).sum()) / 2
        W[:, end:] -= errors @ Hinv[start:end, end:]  # the lazy batch update for everything after the block
    return QuantizedWeight(Q.to(torch.int8), scales, zeros.to(torch.int8), 4, s.group_size, s.symmetric), loss


def quantize_block(
    W: torch.Tensor,
    Hinv: torch.Tensor,
    Q: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor,
    start: int,
    end: int,
    s: GptqSettings,
) -> torch.Tensor:
    """Columns ``start:end`` one at a time, each error spread over the block's later columns; fills
    ``Q``, ``scales`` and ``zeros`` and returns the scaled errors [out, end - start]."""
    block = W[:, start:end].clone()
    Hblock = Hinv[start:end, start:end]
    errors = torch.zeros_like(block)
    for i in range(end - start):
        column = start + i
        g = column // s.group_size
        if column % s.group_size == 0:  # fresh scales from the already-updated weights of this group
            scales[:, g], zeros[:, g] = int4_scale_zero(block[:, i : i + s.group_size], s.symmetric)
        w, scale, zero = block[:, i], scales[:, g], zeros[:, g]
        q = torch.clamp(torch.round(w / scale) + zero, 0, INT4_MAX)
        Q[:, column] = q
        errors[:, i] = (w - (q - zero) * scale) / Hblock[i, i]
        block[:, i:].addr_(errors[:, i], Hblock[i, i:], alpha=-1)  # update the rest of the block
    return errors


class _Captured(Exception):
    """Stops the forward pass once the first decoder layer's inputs are recorded."""


@torch.no_grad()
def capture_layer_inputs(
    model: Any, first_layer: torch.nn.Module, windows: list[torch.Tensor]
) -> tuple[list[torch.Tensor], dict]:
    """Hidden states entering the first decoder layer, per batch of windows, and the other arguments it
    gets (the same for every batch of the same shape)."""
    inputs: list[torch.Tensor] = []
    arguments: dict = {}

    def record(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        inputs.append(args[0] if args else kwargs["hidden_states"])
        if not arguments:
            arguments.update({k: v for k, v in kwargs.items() if k != "hidden_states"})
        raise _Captured

    handle = first_layer.register_forward_pre_hook(record, with_kwargs=True)
    try:
        for window in windows:
            with contextlib.suppress(_Captured):
                model(input_ids=window.to(model.device), use_cache=False)
    finally:
        handle.remove()
    return inputs, arguments


@torch.no_grad()
def collect_input_stats(
    layer: torch.nn.Module, linears: dict[str, torch.nn.Linear], inputs: list[torch.Tensor], arguments: dict
) -> dict[str, InputStats]:
    """One pass of the calibration inputs through ``layer``; Linears that read the same tensor
    (q/k/v, gate/up) share one accumulator."""
    stats: dict[str, InputStats] = {}
    seen: dict[int, tuple[torch.Tensor, InputStats]] = {}  # holding x keeps its id unique in this pass

    def hook_for(name: str) -> Callable:
        def hook(module: torch.nn.Module, args: tuple) -> None:
            x = args[0]
            if id(x) in seen:
                stats.setdefault(name, seen[id(x)][1])
                return
            accumulator = stats.setdefault(name, InputStats.empty(x.shape[-1], x.device))
            accumulator.add(x)
            seen[id(x)] = (x, accumulator)

        return hook

    handles = [module.register_forward_pre_hook(hook_for(name)) for name, module in linears.items()]
    try:
        for x in inputs:
            seen.clear()
            layer(x, **arguments)
    finally:
        for handle in handles:
            handle.remove()
    return stats


@torch.no_grad()
def quantize_layer(
    layer: torch.nn.Module, prefix: str, stats: dict[str, InputStats], s: GptqSettings, result: GptqResult
) -> None:
    """GPTQ every Linear of one decoder layer, put the dequantized weights back, correct biases."""
    for name, module in layer.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        original = module.weight.float()
        quantized, loss = gptq_quantize(original, stats[name].hessian, s, stats[name].tokens)
        dequantized = quantized.dequantize().to(original.device)
        key = f"{prefix}.{name}"
        if module.bias is not None and s.bias_correction:
            module.bias += ((original - dequantized) @ stats[name].mean).to(module.bias.dtype)
            result.biases[f"{key}.bias"] = module.bias.detach().cpu().clone()
        module.weight.copy_(dequantized.to(module.weight.dtype))
        result.weights[f"{key}.weight"] = QuantizedWeight(
            quantized.q.cpu(), quantized.scale.cpu(), quantized.zero.cpu(), 4, s.group_size, s.symmetric
        )
        result.losses[f"{key}.weight"] = loss


@torch.no_grad()
def gptq_model(
    model: Any,
    windows: list[torch.Tensor],
    s: GptqSettings,
    on_layer: Callable[[int, int], None] | None = None,
) -> GptqResult:
    """Quantize every decoder layer's Linears in order; ``model`` ends up holding the dequantized weights."""
    prefix, layers = decoder_layers(model)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    step = WINDOWS_PER_BATCH
    batches = [torch.cat(windows[i : i + step]) for i in range(0, len(windows), step)]
    inputs, arguments = capture_layer_inputs(model, layers[0], batches)
    inputs = [x.to(device, torch.float32) for x in inputs]
    arguments = {k: _to(v, device) for k, v in arguments.items()}
    result = GptqResult()
    for index, layer in enumerate(layers):
        stored_dtype = next(layer.parameters()).dtype
        layer.to(device, torch.float32)
        linears = {n: m for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}
        stats = collect_input_stats(layer, linears, inputs, arguments)
        quantize_layer(layer, f"{prefix}.{index}", stats, s, result)
        del stats
        for j, x in enumerate(inputs):  # the next layer sees what this quantized layer outputs
            output = layer(x, **arguments)
            inputs[j] = output[0] if isinstance(output, tuple) else output
        layer.to("cpu", stored_dtype)
        if on_layer is not None:
            on_layer(index + 1, len(layers))
    return result


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device) if not value.is_floating_point() else value.to(device, torch.float32)
    if isinstance(value, tuple):
        return tuple(_to(v, device) for v in value)
    return value
