"""IA³ (Liu et al. 2022): learned vectors that rescale the keys, values and MLP activations."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft


class IA3Params(MethodParams):
    target_modules: list[str] | None = Field(
        None, description="Modules to rescale; empty: peft's choice for the architecture (k, v and MLP out)."
    )
    feedforward_modules: list[str] | None = Field(
        None, description="Which of the targets are MLP layers (their input is rescaled, not their output)."
    )

    @model_validator(mode="after")
    def _feedforward_within_targets(self) -> IA3Params:
        if self.feedforward_modules and not self.target_modules:
            raise ValueError("feedforward_modules needs target_modules too (it names some of them)")
        if self.target_modules and self.feedforward_modules:
            extra = set(self.feedforward_modules) - set(self.target_modules)
            if extra:
                raise ValueError(f"feedforward_modules {sorted(extra)} are not among target_modules")
        return self


def apply_ia3(model: Any, params: IA3Params, ctx: Context) -> Prepared:
    from peft import IA3Config

    feedforward = params.feedforward_modules if params.target_modules else None
    if params.target_modules and feedforward is None:
        feedforward = []
    config = IA3Config(
        task_type=ctx.task_type, target_modules=params.target_modules, feedforward_modules=feedforward
    )
    return Prepared(wrap_peft(model, config, "method_params"))


METHOD = TrainMethod(
    name="ia3",
    title="IA³",
    description="Learns rescaling vectors for keys, values and MLP activations: far fewer weights than LoRA. "
    "Likes a high learning rate (~3e-3).",
    paper="https://arxiv.org/abs/2205.05638",
    apply=apply_ia3,
    method_params=IA3Params,
)
