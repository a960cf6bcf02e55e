"""Influence toward a target set: which rows would teach the base model most of what the target shows.

**LESS** (Xia et al. 2024, arXiv:2402.04333): a LoRA on the base model is warmed up for
``train_steps`` on a random 5 % of the rows; each row's gradient of its response loss with respect to
the LoRA weights is then taken, as Adam would step it from the warm-up's optimizer state
(``preconditioner: adam``: the paper's Γ = m / √(v + ε), m and v one Adam update on from the warm-up's
moments; one warm-up checkpoint, where the paper sums four weighted by their learning rates) or plain
(``sgd``), and randomly projected to ``projection_dims`` (a seeded Gaussian matrix, drawn in blocks and
kept only while it is under 1 GiB). The target rows' plain gradients are projected the same way. A
row's score is its mean cosine similarity to the target rows (one target task: the paper's max over
tasks has one term), which is its unit feature against the mean of the target's unit features, so no
feature matrix is kept: memory is one batch of gradients.

**CoLoR-Filter** (Brandfonbrener et al. 2024, arXiv:2406.10670): a LoRA is trained for ``train_steps``
on the target set; a row's score is its loss under the base model (adapter off) minus its loss under
the tuned one (adapter on): the rows the target made likelier are the ones like it.

Losses are the fit step's: the response tokens of the row as training renders it, truncated to
``max_tokens`` (``trainers.curate.fit.FitScorer``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from trainers.curate.fit import FitScorer
from trainers.curate.table import Row, input_rows
from trainers.data import iter_rows
from trainers.examples import IGNORE_INDEX
from trainers.formats import DataError
from trainers.spec import ModelRef
from trainers.spec_curate import CurateSpec, InfluenceStep

PROJECTION_BLOCK = 1 << 15  # parameters per block of the projection matrix drawn at a time
PROJECTION_CACHE_BYTES = 1 << 30  # a projection up to this size is drawn once and kept
GRADIENT_BATCH_BYTES = 1 << 29  # rows' gradients held at once: a projection drawn anew serves them all
LOSS_BATCH = 8  # CoLoR-Filter: rows per forward pass
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


class InfluenceScorer:
    """The base model with a fresh LoRA, trained and scored as the step says."""

    def __init__(self, ref: ModelRef, step: InfluenceStep, seed: int) -> None:
        import torch
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed)
        self.step, self.seed = step, seed
        self.fit = FitScorer(ref, step.max_tokens)
        config = LoraConfig(
            r=step.lora_r, lora_alpha=2 * step.lora_r, lora_dropout=0.0, target_modules="all-linear"
        )
        self.model = get_peft_model(self.fit.model, config)
        self.fit.model = self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = None
        self.blocks: dict[int, object] = {}  # block -> its part of the projection, when it is kept

    def examples(self, rows: Iterable[dict], task: str) -> list[dict[str, list[int]]]:
        """Rows as the trainer tokenises them; those truncation leaves without a response are left out."""
        found = [self.fit.example(row, task) for row in rows]
        return [e for e in found if any(label != IGNORE_INDEX for label in e["labels"][1:])]

    def train(self, examples: Sequence[dict[str, list[int]]]) -> None:
        """``train_steps`` AdamW steps of the LoRA, one row a step, cycling through them in a seeded order."""
        import torch

        self.model.train()
        self.optimizer = torch.optim.AdamW(
            self.params, lr=self.step.learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=0.0
        )
        order = np.random.default_rng(self.seed).permutation(len(examples)) if examples else []
        for n in range(self.step.train_steps if examples else 0):
            self.optimizer.zero_grad(set_to_none=True)
            self._loss(examples[order[n % len(examples)]]).backward()
            self.optimizer.step()
        self.model.eval()

    def _loss(self, example: dict[str, list[int]]):
        import torch

        device = self.fit.device
        ids = torch.tensor([example["input_ids"]], device=device)
        return self.model(input_ids=ids, labels=torch.tensor([example["labels"]], device=device)).loss

    def gradient_rows(self) -> int:
        """Rows whose gradients are projected together: as many as fit GRADIENT_BATCH_BYTES, ≤ 256."""
        parameters = sum(p.numel() for p in self.params)
        return max(1, min(256, GRADIENT_BATCH_BYTES // (4 * parameters)))

    def gradient(self, example: dict[str, list[int]]):
        """(parameters,) the LoRA gradient of one row's response loss."""
        import torch

        self.model.zero_grad(set_to_none=True)
        self._loss(example).backward()
        return torch.cat([p.grad.reshape(-1) for p in self.params])

    def adam_step(self, gradient):
        """What Adam would step from the warm-up's moments with this gradient: m / √(v + ε), as the
        LESS code computes it (``obtain_gradients_with_adam``)."""
        import torch

        state = [self.optimizer.state[p] for p in self.params]
        m = torch.cat([s["exp_avg"].reshape(-1) for s in state])
        v = torch.cat([s["exp_avg_sq"].reshape(-1) for s in state])
        beta1, beta2 = ADAM_BETAS
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * gradient**2
        return m / (v + ADAM_EPS).sqrt()

    def project(self, gradients):
        """(rows, projection_dims): gradients (rows, parameters) times a seeded Gaussian matrix / √dims,
        drawn block by block so the matrix is never whole in memory."""
        import torch

        dims = self.step.projection_dims
        keep = gradients.shape[1] * dims * 4 <= PROJECTION_CACHE_BYTES
        out = torch.zeros(gradients.shape[0], dims, device=gradients.device)
        for block, start in enumerate(range(0, gradients.shape[1], PROJECTION_BLOCK)):
            part = gradients[:, start : start + PROJECTION_BLOCK]
            matrix = self.blocks.get(block)
            if matrix is None:
                generator = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + block)
                matrix = torch.randn(part.shape[1], dims, generator=generator).to(gradients.device)
                if keep:
                    self.blocks[block] = matrix
            out += part @ matrix
        return out / math.sqrt(dims)

    def unit_features(self, examples: Sequence[dict[str, list[int]]], precondition: bool):
        import torch

        grads = [self.gradient(e) for e in examples]
        if precondition:
            grads = [self.adam_step(g) for g in grads]
        if not grads:
            return torch.zeros(0, self.step.projection_dims)
        return torch.nn.functional.normalize(self.project(torch.stack(grads)), dim=-1)

    def loss_reduction(self, examples: Sequence[dict[str, list[int]]]) -> list[float]:
        """Loss under the base (adapter off) minus loss under the target-tuned LoRA, per row."""
        tuned = self.fit._batch_losses(list(examples))
        with self.model.disable_adapter():
            base = self.fit._batch_losses(list(examples))
        return [b - t for b, t in zip(base, tuned, strict=True)]


def target_direction(scorer: InfluenceScorer, target: list[dict[str, list[int]]]):
    """The mean of the target rows' unit LESS features: a row's mean cosine to them is its dot with this."""
    return scorer.unit_features(target, precondition=False).mean(dim=0)


def score_rows(
    scorer: InfluenceScorer, rows: Sequence[dict], task: str, direction=None
) -> list[float]:
    """Each row's influence score (nan where truncation left it no response): LESS's mean cosine to
    the target, or CoLoR-Filter's loss reduction."""
    out = []
    batch = LOSS_BATCH if scorer.step.method == "color_filter" else scorer.gradient_rows()
    for start in range(0, len(rows), batch):
        part = [scorer.fit.example(row, task) for row in rows[start : start + batch]]
        usable = [i for i, e in enumerate(part) if any(label != IGNORE_INDEX for label in e["labels"][1:])]
        scores = [math.nan] * len(part)
        picked = [part[i] for i in usable]
        if scorer.step.method == "color_filter":
            found = scorer.loss_reduction(picked) if picked else []
        else:
            precondition = scorer.step.preconditioner == "adam"
            found = (scorer.unit_features(picked, precondition) @ direction).tolist() if picked else []
        for i, value in zip(usable, found, strict=True):
            scores[i] = float(value)
        out += scores
    return out



def warmup_rows(spec: CurateSpec, alive: list[int]) -> list[dict]:
    """A seeded random 5 % of the surviving rows (at least one): the paper's warm-up data."""
    wanted = set(np.random.default_rng(spec.seed).permutation(alive)[: max(1, len(alive) // 20)].tolist())
    return [row for i, (*_, row) in enumerate(input_rows(spec)) if i in wanted]


def rank_toward_target(spec: CurateSpec, rows: list[Row], on_rows: Callable[[int], None]) -> None:
    """Each surviving row's influence score into ``rows[i].influence``, read and scored in chunks of
    ``spec.chunk_rows``; ``on_rows(n)`` after each chunk with the rows read so far."""
    step, ref = spec.influence, spec.target_set
    scorer = InfluenceScorer(spec.tokenizer, step, spec.seed)
    target = scorer.examples(iter_rows(Path(ref.path), ref.format, ref.task), spec.task)
    if not target:
        raise DataError("no target row has a response left within influence.max_tokens", file="target_set")
    alive = [i for i, row in enumerate(rows) if row.alive]
    direction = None
    if step.method == "color_filter":
        scorer.train(target)
    else:
        scorer.train(scorer.examples(warmup_rows(spec, alive), spec.task))
        direction = target_direction(scorer, target)
    keep, chunk = set(alive), []
    for i, (*_, raw) in enumerate(input_rows(spec)):
        if i in keep:
            chunk.append((i, raw))
        if chunk and (len(chunk) == spec.chunk_rows or i == len(rows) - 1):
            found = score_rows(scorer, [r for _, r in chunk], spec.task, direction)
            for (n, _), value in zip(chunk, found, strict=True):
                rows[n].influence = None if math.isnan(value) else round(value, 6)
            on_rows(i + 1)
            chunk = []


def most_influential(rows: list[Row], alive: list[int], target: int) -> set[int]:
    """The ``target`` surviving rows with the highest scores (unscored rows last)."""
    ranked = sorted(alive, key=lambda i: -math.inf if rows[i].influence is None else rows[i].influence)
    return set(ranked[::-1][:target])
