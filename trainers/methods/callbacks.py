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
