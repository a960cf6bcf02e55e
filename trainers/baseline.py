"""The frozen baseline of a classification job: the base encoder's embeddings + logistic regression.

Computed in seconds before fine-tuning (one forward pass over the rows, no gradients, batches of
similar lengths), it is what a practitioner tries first; the job reports it next to the fine-tuned
result, so a run that fine-tunes to less than this is visible as such.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trainers.pooling import pool

MAX_BASELINE_ROWS = 4000  # more rows barely move a linear probe, and cost a forward pass each


@torch.no_grad()
def embed(encoder: Any, tokenizer: Any, texts: list[str], pooling: str, max_length: int,
          batch_size: int = 64) -> torch.Tensor:
    """(len(texts), hidden) pooled embeddings from ``encoder`` (a transformers base model)."""
    if not texts:
        return torch.empty(0, encoder.config.hidden_size)
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
    out: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    try:
        for start in range(0, len(order), batch_size):
            ids = order[start : start + batch_size]
            batch = tokenizer([texts[i] for i in ids], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt").to(device)
            hidden = encoder(**batch).last_hidden_state  # (batch, tokens, hidden)
            pooled = pool(hidden, batch["attention_mask"], pooling).float().cpu()  # (batch, hidden)
            for i, vector in zip(ids, pooled, strict=True):
                out[i] = vector
    finally:
        encoder.train(was_training)
    return torch.stack(out)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, c: float = 1.0,
                 iterations: int = 100) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on standardized features, L2-regularised as scikit-learn's
    ``LogisticRegression(C=c)`` (mean cross-entropy + ||W||² / (2 c N)), solved by L-BFGS.
    Returns (weight, bias, feature mean, feature scale)."""
    mean, scale = x.mean(dim=0), x.std(dim=0).clamp(min=1e-6)
    z = (x - mean) / scale
    weight = torch.zeros(n_classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    solver = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")
    l2 = 1.0 / (2 * c * len(z))

    def loss() -> torch.Tensor:
        solver.zero_grad()
        value = torch.nn.functional.cross_entropy(z @ weight.T + bias, y) + l2 * weight.pow(2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        solver.step(loss)
    return weight.detach(), bias.detach(), mean, scale


def folded(weight: torch.Tensor, bias: torch.Tensor, mean: torch.Tensor,
           scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The probe on standardized features as one linear layer on the raw embeddings:
    ((x - mean) / scale) @ W.T + b == x @ (W / scale).T + (b - (W / scale) @ mean)."""
    on_raw = weight / scale  # (n_classes, hidden)
    return on_raw, bias - on_raw @ mean


def frozen_baseline(encoder: Any, tokenizer: Any, train: tuple[list[str], list[int]],
                    evaluate: list[str], n_classes: int, pooling: str,
                    max_length: int) -> tuple[np.ndarray, tuple[torch.Tensor, torch.Tensor]]:
    """Logits (len(evaluate), n_classes) of a logistic regression fitted on the frozen embeddings of
    the training texts (at most MAX_BASELINE_ROWS of them) and their label ids, and that regression
    as (weight (n_classes, hidden), bias (n_classes,)) on the raw pooled embeddings: a head to start
    fine-tuning from (linear probing then fine-tuning, Kumar et al. 2022)."""
    texts, label_ids = train[0][:MAX_BASELINE_ROWS], train[1][:MAX_BASELINE_ROWS]
    x = embed(encoder, tokenizer, texts, pooling, max_length)
    weight, bias = folded(*fit_logistic(x, torch.tensor(label_ids), n_classes))
    logits = embed(encoder, tokenizer, evaluate, pooling, max_length) @ weight.T + bias
    return logits.numpy(), (weight, bias)
