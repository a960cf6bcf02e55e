"""The importance matrix of llama.cpp's ``llama-imatrix``: per Linear, the mean of the squared inputs
of each input column over the calibration tokens.

``imatrix[name][j] = mean over tokens t of x_t[j]²`` where ``x_t`` is what enters the Linear whose
weight is ``name`` (a checkpoint tensor name). The k-quant export (kquants.py) weights each weight's
rounding error by it. Linears that read the same tensor (q/k/v, gate/up) get the same values, as
in llama.cpp. With tied embeddings the output head reads the final hidden states through the
embedding matrix, so its values are filed under the embedding's name too (llama.cpp's
``token_embd.weight`` entry); an untied input embedding is a lookup and has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

WINDOWS_PER_BATCH = 8


@torch.no_grad()
def collect_imatrix(model: Any, windows: list[torch.Tensor]) -> dict[str, np.ndarray]:
    """Run ``windows`` (each [1, seq_len]) through ``model`` and return the importance per weight name."""
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def hook_for(name: str) -> Callable:
        def hook(module: torch.nn.Module, args: tuple) -> None:
            x = args[0].reshape(-1, args[0].shape[-1]).float()
            sums[name] = sums.get(name, 0) + (x * x).sum(dim=0)
            counts[name] = counts.get(name, 0) + x.shape[0]

        return hook

    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    handles = [m.register_forward_pre_hook(hook_for(f"{n}.weight")) for n, m in linears.items()]
    try:
        for i in range(0, len(windows), WINDOWS_PER_BATCH):
            batch = torch.cat(windows[i : i + WINDOWS_PER_BATCH]).to(model.device)
            model(input_ids=batch, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    imatrix = {name: (sums[name] / counts[name]).cpu().numpy().astype(np.float32) for name in sums}
    _file_tied_head(model, linears, imatrix)
    return imatrix


def _file_tied_head(model: Any, linears: dict[str, torch.nn.Linear], imatrix: dict[str, np.ndarray]) -> None:
    head, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or embeddings is None or head.weight is not embeddings.weight:
        return
    head_name = next(n for n, m in linears.items() if m is head)
    embed_name = next(n for n, m in model.named_modules() if m is embeddings)
    if f"{head_name}.weight" in imatrix:
        imatrix[f"{embed_name}.weight"] = imatrix[f"{head_name}.weight"]
