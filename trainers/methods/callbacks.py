"""Trainer callbacks some methods add to the run. Imports transformers: load only when training."""

from __future__ import annotations

import random
from typing import Any

from transformers import TrainerCallback

from trainers.methods import layers


class AdaLoraBudget(TrainerCallback):
    """AdaLoRA's rank allocation: after each optimizer step, before the gradients are cleared."""

    def on_optimizer_step(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        model.base_model.update_and_allocate(state.global_step)


class LisaLayers(TrainerCallback):
    """LISA: every ``period`` steps, unfreeze ``n_layers`` blocks drawn at random and freeze the rest.

    The draw for period k is seeded with (seed, k), so a resumed run trains the same layers
    it would have. Frozen parameters keep no gradient (the Trainer clears them to None), and
    AdamW skips a parameter without one, so only the active blocks move and build up state.
    """

    def __init__(
        self, model: Any, blocks: list[Any], always: list[Any], *, n_layers: int, period: int, seed: int
    ) -> None:
        self.model, self.blocks, self.always = model, blocks, always
        self.n_layers, self.period, self.seed = n_layers, period, seed
        self.active: list[int] = []

    def choose(self, step: int) -> list[int]:
        rng = random.Random(f"{self.seed}:{step // self.period}")
        return sorted(rng.sample(range(len(self.blocks)), self.n_layers))

    def switch(self, step: int) -> None:
        self.active = self.choose(step)
        layers.freeze_all(self.model)
        layers.set_trainable([self.blocks[index] for index in self.active])
        layers.set_trainable(self.always)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.switch(state.global_step)  # after the optimizer took in every parameter

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.period == 0:
            self.switch(state.global_step)


class HalfLayers(TrainerCallback):
    """HFT: each round, train the half of every block ``hft.draw`` picks (and ``always``), freeze the rest.

    A round is ``period`` optimizer steps, or an epoch when ``period`` is 0; its draw is seeded with
    (seed, round), so a resumed run trains the same half. The optimizer state of what a new draw
    freezes is dropped, so AdamW only ever holds the moments of one half (as a fresh round would)."""

    def __init__(self, model: Any, blocks: list[Any], always: list[Any], *, period: int, seed: int) -> None:
        self.model, self.blocks, self.always = model, blocks, always
        self.period, self.seed = period, seed
        self.round: int | None = None

    def round_of(self, state: Any) -> int:
        # an epoch's number: state.epoch ends each epoch on a whole number, up to rounding
        return state.global_step // self.period if self.period else int((state.epoch or 0) + 1e-6)

    def switch(self, round_: int, optimizer: Any = None) -> None:
        from trainers.methods import hft

        if round_ == self.round:
            return
        self.round = round_
        before = [p for p in self.model.parameters() if p.requires_grad]
        layers.freeze_all(self.model)
        layers.set_trainable(hft.draw(self.blocks, self.seed, round_))
        layers.set_trainable(self.always)
        if optimizer is not None:
            states = getattr(optimizer, "optimizer", optimizer).state
            for param in before:
                if not param.requires_grad:
                    states.pop(param, None)

    def on_train_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any
    ) -> None:
        self.switch(self.round_of(state), optimizer)  # after the optimizer took in every parameter

    def on_epoch_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any
    ) -> None:
        if not self.period:
            self.switch(self.round_of(state), optimizer)

    def on_step_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any
    ) -> None:
        if self.period:
            self.switch(self.round_of(state), optimizer)
