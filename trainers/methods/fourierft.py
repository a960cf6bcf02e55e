"""FourierFT (Gao et al. 2024): each adapted layer's weight update is the inverse 2-D Fourier
transform of a few learned spectral coefficients at random (seeded) frequencies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft


class FourierFTParams(MethodParams):
    n_frequency: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Spectral coefficients learned per layer (at most in × out of the "
        "smallest adapted layer).",
    )
    scaling: float = Field(150.0, gt=0.0, le=10_000.0, description="Scale of the update, like LoRA's alpha.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer."
    )


def apply_fourierft(model: Any, params: FourierFTParams, ctx: Context) -> Prepared:
    from peft import FourierFTConfig

    config = FourierFTConfig(
        task_type=ctx.task_type,
        n_frequency=params.n_frequency,
        scaling=params.scaling,
        random_loc_seed=ctx.seed,  # saved in the adapter config, so the frequencies reload the same
        target_modules=params.target_modules,
    )
    return Prepared(wrap_peft(model, config, "method_params.n_frequency"))


METHOD = TrainMethod(
    name="fourierft",
    title="FourierFT",
    description="Learns a few Fourier coefficients per layer and turns them into the weight update: fewer "
    "weights than LoRA for a similar effect. Likes a high learning rate (~1e-2 to 1e-1).",
    paper="https://arxiv.org/abs/2405.03003",
    apply=apply_fourierft,
    method_params=FourierFTParams,
)
