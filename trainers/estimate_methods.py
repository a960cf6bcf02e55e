"""Memory to train with a given method: ``trainers.estimate``'s parts, with what each method keeps
besides (MeZO's forward-only passes, GaLore's projected AdamW state, SpIEL's indices, growth
statistics and transient dense matrices). The guided set-up (``jobs.guided.sizing``) and
``bench/method_memory.py`` both read it. No torch, no Django."""

from __future__ import annotations

import dataclasses

from trainers import estimate, trainable
from trainers.estimate import MemoryEstimate, ModelShape


def method_memory(
    shape: ModelShape,
    method: str,
    params: dict | None = None,
    *,
    seq_len: int,
    batch_size: int,
    device: str = "gpu",
) -> MemoryEstimate:
    """Bytes to train ``shape`` with ``method`` and its parameter groups (``lora``, ``method_params``;
    missing values take the defaults)."""
    params = params or {}
    if method == "mezo":  # forward passes only: the memory of inference
        return estimate.forward_only_memory(shape, seq_len=seq_len, batch_size=batch_size, device=device)
    count = trainable.trainable_parameter_count(shape, method, params)
    memory = estimate.training_memory(
        shape,
        trainable=count,
        seq_len=seq_len,
        batch_size=batch_size,
        device=device,
        trains_weights=method in trainable.TRAINS_WEIGHTS,
        adapter_inputs=False if method == "spiel" else None,
    )
    own = params.get("method_params") or {}
    if method == "galore":  # AdamW's state is projected
        memory = dataclasses.replace(memory, optimizer=4 * trainable.galore_state_values(shape, own))
    if method == "spiel":
        memory = _spiel(memory, shape, own, count, device)
    return memory


def _spiel(memory: MemoryEstimate, shape: ModelShape, own: dict, count: int, device: str) -> MemoryEstimate:
    """SpIEL keeps, besides its k values (the "adapter"), their int64 indices and its growth statistics:
    for 'gradient' as many candidates (an int64 index and an fp32 sum each), for 'sm3' an fp32 value per
    row and per column of each matrix. While a layer computes, its dense ``W + Δ`` (the training dtype)
    and its fp32 weight gradient exist for a moment (SM3 adds two more fp32 matrices, and its update
    an fp32 score and a mask per entry): counted once, for the largest matrix."""
    value_bytes = 2 if device == "gpu" else 4
    linears = [(i, o) for _n, i, o in trainable._adapted(shape, own.get("target_modules"))]
    sm3 = own.get("regrow", "gradient") == "sm3"
    statistics = shape.layers * sum(4 * (i + o) for i, o in linears) if sm3 else 12 * count
    largest = max((i * o for i, o in linears), default=0)
    transient = largest * (value_bytes + 4 + (9 if sm3 else 0))
    return dataclasses.replace(
        memory,
        adapter=memory.adapter + 8 * count + statistics,
        activations=memory.activations + transient,
    )
