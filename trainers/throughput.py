"""Tokens per second of each training process, from its own forward passes.

Every rank counts the tokens of the batches its model trains on (a forward pre-hook: the attention
mask's ones, or every input id where a padding-free batch has no mask). At each train log, every
rank's rate since the last one is gathered (``all_gather_object``: a collective, which the
Trainer's log is on every rank) and rank 0 reports one ``tokens_per_second`` metric per rank
(split ``rank<N>``) and their sum (split ``all``). Counted for runs of several processes only.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist


def batch_tokens(args: tuple, kwargs: dict) -> int:
    """The real (not padding) tokens of one forward pass's inputs."""
    mask = kwargs.get("attention_mask")
    if isinstance(mask, torch.Tensor):
        return int(mask.sum())
    ids = kwargs.get("input_ids", args[0] if args else None)
    return int(ids.numel()) if isinstance(ids, torch.Tensor) else 0


class TokenRate:
    """This process's trained tokens, and every process's tokens per second between two calls."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.tokens = 0
        self._last = (0, time.monotonic())
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if module.training:  # evaluation and sample generation are not training throughput
            self.tokens += batch_tokens(args, kwargs)

    def rates(self) -> list[float]:
        """Each rank's tokens per second since the last call, in rank order. Every rank must call it."""
        now = time.monotonic()
        tokens, then = self._last
        self._last = (self.tokens, now)
        rate = (self.tokens - tokens) / max(now - then, 1e-9)
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return [rate]
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, rate)
        return [float(r) for r in gathered]


def report(emitter: Any, rates: list[float], step: int) -> None:
    """One metric per rank and their sum (rank 0's emitter writes; the others' write nothing)."""
    for rank, rate in enumerate(rates):
        emitter.metric("tokens_per_second", step=step, value=rate, split=f"rank{rank}")
    emitter.metric("tokens_per_second", step=step, value=sum(rates), split="all")
