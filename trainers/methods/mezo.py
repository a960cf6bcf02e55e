"""MeZO (Malladi et al. 2023, "Fine-Tuning Language Models with Just Forward Passes"): full-parameter
fine-tuning by zeroth-order SGD, with no backward pass and no optimizer state.

Each step draws a seed, moves every trained weight by ``+eps·z`` (``z`` standard normal, regenerated
from the seed parameter by parameter, never stored), measures the loss, moves by ``−2eps·z``,
measures again, moves back, and steps each weight by ``−lr · (L₊ − L₋)/(2eps) · z`` (SPSA). Memory is
what inference needs: the weights, one forward pass's activations and one parameter-sized ``z`` at a
time. It needs many more steps than backpropagation and a small learning rate (1e-6 to 1e-4).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod


class MezoParams(MethodParams):
    eps: float = Field(1e-3, gt=0.0, le=1.0, description="Size of the random perturbation (the paper's ε).")


class ZerothOrderStep:
    """A Trainer's ``training_step`` replaced by MeZO's two forward passes and in-place update."""

    def __init__(self, eps: float, seed: int) -> None:
        self.eps = eps
        self.seeds = _seed_stream(seed)

    def __call__(self, trainer: Any, model: Any, inputs: dict, num_items_in_batch: Any = None) -> Any:
        import torch

        model.train()
        inputs = trainer._prepare_inputs(inputs)
        params = [p for p in model.parameters() if p.requires_grad]
        seed = next(self.seeds)
        with torch.no_grad():
            _perturb(params, seed, self.eps)
            plus = trainer.compute_loss(model, inputs).detach()
            _perturb(params, seed, -2 * self.eps)
            minus = trainer.compute_loss(model, inputs).detach()
            _perturb(params, seed, self.eps)  # back where the step started
            projected = float(plus - minus) / (2 * self.eps)
            # Accumulated micro-batches share one optimizer step's learning rate between them.
            rate = trainer._get_learning_rate() / trainer.current_gradient_accumulation_steps
            _update(params, seed, rate * projected, trainer.args.weight_decay * rate)
        return ((plus + minus) / 2) / trainer.current_gradient_accumulation_steps


def _seed_stream(seed: int):
    import random

    draw = random.Random(seed)
    while True:
        yield draw.randrange(2**31)


def _noise_like(param: Any, generator: Any) -> Any:
    import torch

    return torch.randn(param.shape, generator=generator, device=param.device, dtype=param.dtype)


def _perturb(params: list, seed: int, scale: float) -> None:
    """Add ``scale · z`` to every weight, ``z`` drawn afresh from ``seed`` in the same order each time."""
    import torch

    generator = torch.Generator(device=params[0].device).manual_seed(seed)
    for param in params:
        param.add_(_noise_like(param, generator), alpha=scale)


def _update(params: list, seed: int, step: float, decay: float) -> None:
    """SGD on the projected gradient: ``p −= step·z`` (and weight decay on matrices, as the paper)."""
    import torch

    generator = torch.Generator(device=params[0].device).manual_seed(seed)
    for param in params:
        z = _noise_like(param, generator)
        if decay and param.ndim >= 2:
            param.mul_(1 - decay)
        param.add_(z, alpha=-step)


def apply_mezo(model: Any, params: MezoParams, ctx: Context) -> Prepared:
    for param in model.parameters():
        param.requires_grad_(True)  # marks what MeZO moves; no gradient is ever computed
    return Prepared(model, training_step=ZerothOrderStep(params.eps, ctx.seed))


METHOD = TrainMethod(
    name="mezo",
    title="MeZO (forward-only)",
    description="Full fine-tuning with forward passes only (zeroth-order SGD): needs about the memory of "
    "inference, but many more steps and a small learning rate (1e-6 to 1e-4).",
    paper="https://arxiv.org/abs/2305.17333",
    apply=apply_mezo,
    method_params=MezoParams,
    objectives=("sft", "pretrain", "classification"),
    artifact="model",
)
