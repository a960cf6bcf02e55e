"""SpIEL's machinery (trainers/methods/spiel.py): a sparse delta on a frozen linear layer, its
drop-and-grow callback and the merge back into a plain model. Imports torch and transformers: load
only when training.

A sparse layer keeps its pretrained ``weight`` frozen and adds ``sparse_values`` (the k trained
deltas, fp32) at ``sparse_indices`` (flat positions in the weight). Its forward computes
``x · (W + Δ)ᵀ`` with Δ scattered into a transient dense copy of W; the backward recomputes that copy
instead of keeping it, and keeps of the dense weight gradient (transient too) only the k entries at
the indices, plus the growth statistics. So what stays in memory besides the frozen model is the k
values, their gradient and AdamW's two moments, the k indices and the statistics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import TrainerCallback

from trainers.trainable import sparse_budget

DELTA_FILE = "sparse_delta.safetensors"


def with_delta(weight: torch.Tensor, indices: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``W + Δ`` as one dense tensor in the weight's dtype (the same arithmetic as the merge)."""
    return weight.detach().flatten().index_add(0, indices, values.to(weight.dtype)).view_as(weight)


class _SparseDeltaLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, weight, bias, indices, values, layer):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x, weight, indices, values)
        ctx.layer, ctx.has_bias = layer, bias is not None and bias.requires_grad
        return F.linear(x, with_delta(weight, indices, values).to(x.dtype), bias)

    @staticmethod
    def backward(ctx: Any, grad_out):  # noqa: ANN001, ANN205
        x, weight, indices, values = ctx.saved_tensors
        dense = with_delta(weight, indices, values)
        grad_x = (grad_out.to(dense.dtype) @ dense).to(x.dtype) if ctx.needs_input_grad[0] else None
        flat_out = grad_out.reshape(-1, grad_out.shape[-1]).float()
        grad_w = flat_out.T @ x.reshape(-1, x.shape[-1]).float()  # transient, out × in
        ctx.layer.observe(grad_w)
        grad_values = grad_w.flatten()[indices].to(values.dtype)
        grad_bias = flat_out.sum(0).to(grad_out.dtype) if ctx.has_bias else None
        return grad_x, None, grad_bias, None, grad_values, None


class SparseLinear(nn.Linear):
    """An ``nn.Linear`` given a sparse trainable delta (its class is swapped in by ``make_sparse``)."""

    regrow: str

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SparseDeltaLinear.apply(
            x, self.weight, self.bias, self.sparse_indices, self.sparse_values, self
        )

    def observe(self, grad_w: torch.Tensor) -> None:
        """Growth statistics from one backward pass's dense weight gradient."""
        with torch.no_grad():
            if self.regrow == "gradient":  # SpIEL-AG: the candidates' accumulated gradients
                self.sparse_scores.add_(grad_w.flatten()[self.sparse_candidates])
            else:  # SpIEL-MA: SM3's row and column cover of the accumulated squared gradients
                nu = torch.minimum(self.sparse_rows[:, None], self.sparse_cols[None, :]) + grad_w.square()
                self.sparse_rows.copy_(nu.amax(1))
                self.sparse_cols.copy_(nu.amax(0))


def sample_free(
    numel: int, count: int, taken: torch.Tensor | None, generator: torch.Generator
) -> torch.Tensor:
    """``count`` distinct flat positions drawn uniformly from those not ``taken`` (a bool mask), without
    a permutation of all ``numel`` positions."""
    chosen = torch.empty(0, dtype=torch.long)
    mask = torch.zeros(numel, dtype=torch.bool) if taken is None else taken.clone()
    free = numel - int(mask.sum())
    count = min(count, free)
    while chosen.numel() < count:
        draw = torch.randint(numel, (2 * (count - chosen.numel()) + 16,), generator=generator)
        draw = torch.unique(draw[~mask[draw]])
        draw = draw[torch.randperm(draw.numel(), generator=generator)][: count - chosen.numel()]
        mask[draw] = True
        chosen = torch.cat([chosen, draw])
    return chosen


def make_sparse(module: nn.Linear, density: float, regrow: str, generator: torch.Generator) -> int:
    """Freeze ``module``'s weight and give it k random trainable entries; returns k."""
    weight = module.weight
    numel, k = weight.numel(), sparse_budget(weight.numel(), density)
    device = weight.device
    module.weight.requires_grad_(False)
    if module.bias is not None:
        module.bias.requires_grad_(False)
    indices = sample_free(numel, k, None, generator).to(device)
    module.register_buffer("sparse_indices", indices)
    module.sparse_values = nn.Parameter(torch.zeros(k, dtype=torch.float32, device=device))
    if regrow == "gradient":
        taken = torch.zeros(numel, dtype=torch.bool)
        taken[indices.cpu()] = True
        module.register_buffer("sparse_candidates", sample_free(numel, k, taken, generator).to(device))
        module.register_buffer("sparse_scores", torch.zeros(k, dtype=torch.float32, device=device))
    else:
        out_features, in_features = weight.shape
        module.register_buffer("sparse_rows", torch.zeros(out_features, dtype=torch.float32, device=device))
        module.register_buffer("sparse_cols", torch.zeros(in_features, dtype=torch.float32, device=device))
    module.__class__ = SparseLinear
    module.regrow = regrow
    return k


def sparse_layers(model: nn.Module) -> list[tuple[str, SparseLinear]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SparseLinear)]


STAT_BUFFERS = ("sparse_candidates", "sparse_scores", "sparse_rows", "sparse_cols")


def keep_statistics_per_process(model: nn.Module) -> None:
    """DDP copies rank 0's buffers to every rank before each forward; the growth statistics are each
    process's own until an update sums them (``_reduce_across_ranks``), so DDP must leave them alone.
    (The indices are the same on every rank: each update draws from the same seed.)"""
    from torch.nn.parallel import DistributedDataParallel

    names = [
        f"{name}.{buffer}" for name, layer in sparse_layers(model) for buffer in STAT_BUFFERS
        if hasattr(layer, buffer)
    ]  # fmt: skip
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, names)


def merge(model: nn.Module) -> dict[str, torch.Tensor]:
    """Fold every delta into its weight and turn the layers back into plain ``nn.Linear`` (what
    ``save_pretrained`` then writes is a plain model); returns the delta (indices and values)."""
    delta: dict[str, torch.Tensor] = {}
    for name, layer in sparse_layers(model):
        with torch.no_grad():
            layer.weight.copy_(with_delta(layer.weight, layer.sparse_indices, layer.sparse_values))
        delta[f"{name}.weight.indices"] = layer.sparse_indices.detach().cpu().clone()
        delta[f"{name}.weight.values"] = layer.sparse_values.detach().float().cpu().clone()
        del layer.sparse_values, layer.sparse_indices
        for buffer in STAT_BUFFERS:
            if hasattr(layer, buffer):
                delattr(layer, buffer)
        layer.__class__ = nn.Linear
        del layer.regrow
    return delta


class DropAndGrow(TrainerCallback):
    """Every ``interval`` optimizer steps: drop the share of each matrix's k entries whose deltas are
    smallest (their weights return to the pretrained values), grow as many new entries (delta 0,
    AdamW's moments 0) where the growth statistic is largest, and reset the statistics. The share
    starts at ``drop_fraction`` and decays to 0 along a cosine over the run (as RigL). At the end of
    training the deltas are merged into the weights; ``delta_dir`` gets the delta itself if set."""

    def __init__(
        self,
        model: nn.Module,
        *,
        interval: int,
        drop_fraction: float,
        total_steps: int,
        seed: int,
        delta_dir: Path | None,
    ) -> None:
        self.model, self.interval, self.drop_fraction = model, interval, drop_fraction
        self.total_steps, self.seed, self.delta_dir = max(total_steps, 1), seed, delta_dir
        self.updates = 0

    def share(self, step: int) -> float:
        return self.drop_fraction * (1 + math.cos(math.pi * min(step / self.total_steps, 1.0))) / 2

    def on_step_end(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        step = state.global_step
        if step % self.interval or step >= self.total_steps:
            return
        self.update(step, optimizer)

    def update(self, step: int, optimizer: Any) -> None:
        share = self.share(step)
        states = getattr(optimizer, "optimizer", optimizer).state if optimizer is not None else {}
        for number, (_name, layer) in enumerate(sparse_layers(self.model)):
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + step * 1009 + number) % 2**31)
            _reduce_across_ranks(layer)
            n = int(share * layer.sparse_values.numel())
            if n:
                slots, grown = _drop_and_grow(layer, n)
                with torch.no_grad():
                    layer.sparse_indices[slots] = grown.to(layer.sparse_indices.device)
                    layer.sparse_values[slots] = 0
                for moment in states.get(layer.sparse_values, {}).values():
                    if torch.is_tensor(moment) and moment.shape == layer.sparse_values.shape:
                        moment[slots] = 0
            _reset_statistics(layer, generator)
        self.updates += 1

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        delta = merge(self.model)
        if self.delta_dir is not None and delta:
            from safetensors.torch import save_file

            self.delta_dir.mkdir(parents=True, exist_ok=True)
            save_file(delta, str(self.delta_dir / DELTA_FILE), metadata={"format": "hone-sparse-delta"})


def _drop_and_grow(layer: SparseLinear, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` slots whose deltas are smallest, and the positions to grow into them (as many as
    there are candidates outside the kept entries; a dropped position may grow again, as in RigL)."""
    slots = layer.sparse_values.detach().abs().topk(n, largest=False).indices
    kept = torch.zeros(layer.weight.numel(), dtype=torch.bool, device=layer.sparse_indices.device)
    kept[layer.sparse_indices] = True
    kept[layer.sparse_indices[slots]] = False
    if layer.regrow == "gradient":
        candidates = layer.sparse_candidates
        scores = layer.sparse_scores.abs().masked_fill(kept[candidates], -math.inf)
        best = scores.topk(min(n, int((~kept[candidates]).sum()))).indices
        grown = candidates[best]
    else:
        scores = torch.minimum(layer.sparse_rows[:, None], layer.sparse_cols[None, :]).flatten()
        grown = scores.masked_fill_(kept, -math.inf).topk(n).indices
    return slots[: grown.numel()], grown


def _reset_statistics(layer: SparseLinear, generator: torch.Generator) -> None:
    with torch.no_grad():
        if layer.regrow == "gradient":
            numel = layer.weight.numel()
            taken = torch.zeros(numel, dtype=torch.bool)
            taken[layer.sparse_indices.cpu()] = True
            fresh = sample_free(numel, layer.sparse_candidates.numel(), taken, generator)
            layer.sparse_candidates[: fresh.numel()] = fresh.to(layer.sparse_candidates.device)
            layer.sparse_scores.zero_()
        else:
            layer.sparse_rows.zero_()
            layer.sparse_cols.zero_()


def _reduce_across_ranks(layer: SparseLinear) -> None:
    """Every process grows the same entries: their statistics are summed (or maxed) first."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if layer.regrow == "gradient":
        dist.all_reduce(layer.sparse_scores)
    else:
        dist.all_reduce(layer.sparse_rows, op=dist.ReduceOp.MAX)
        dist.all_reduce(layer.sparse_cols, op=dist.ReduceOp.MAX)
