"""LoKr and LoHa (LyCORIS; Yeh et al. 2023): low-rank updates through Kronecker / Hadamard products.

Two configured instances of one method: both adapt the same modules with a rank and an alpha,
and differ in how the update is factored (peft's ``LoKrConfig`` and ``LoHaConfig``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft


class LycorisParams(MethodParams):
    r: int = Field(8, ge=1, le=256, description="Rank of the factors.")
    alpha: int = Field(8, ge=1, le=1024, description="Scaling numerator; scale = alpha / r.")
    rank_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on each rank of the update.")
    module_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Chance of skipping a module's update in a step."
    )
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer."
    )


def _lycoris_apply(config_name: str) -> Any:
    def apply(model: Any, params: LycorisParams, ctx: Context) -> Prepared:
        import peft

        config = getattr(peft, config_name)(
            task_type=ctx.task_type,
            r=params.r,
            alpha=params.alpha,
            rank_dropout=params.rank_dropout,
            module_dropout=params.module_dropout,
            target_modules=params.target_modules,
        )
        return Prepared(wrap_peft(model, config, "method_params"))

    return apply


LOKR = TrainMethod(
    name="lokr",
    title="LoKr (Kronecker product)",
    description="Adapts each weight with a Kronecker product of small factors: "
    "expressive at very few weights.",
    paper="https://arxiv.org/abs/2309.14859",
    apply=_lycoris_apply("LoKrConfig"),
    method_params=LycorisParams,
)
LOHA = TrainMethod(
    name="loha",
    title="LoHa (Hadamard product)",
    description="Adapts each weight with the Hadamard product of two low-rank updates: "
    "a higher rank per weight.",
    paper="https://arxiv.org/abs/2108.06098",
    apply=_lycoris_apply("LoHaConfig"),
    method_params=LycorisParams,
)
