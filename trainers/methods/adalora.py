"""AdaLoRA (Zhang et al. 2023): LoRA whose rank budget moves to the weights that matter most.

Adapters start at ``init_r`` and are pruned towards an average of ``target_r`` by an SVD-style
importance score; peft does the work in ``update_and_allocate``, which a callback calls after
every optimizer step. The schedule (warm-up, final phase) is given as shares of the run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft


class AdaLoraParams(MethodParams):
    init_r: int = Field(12, ge=1, le=256, description="Rank every adapter starts with.")
    target_r: int = Field(8, ge=1, le=256, description="Average rank left after pruning.")
    alpha: int = Field(16, ge=1, le=1024, description="Scaling numerator, as in LoRA.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer."
    )
    warmup_share: float = Field(0.1, ge=0.0, lt=1.0, description="Share of steps before any rank is pruned.")
    final_share: float = Field(0.2, ge=0.0, lt=1.0, description="Share of steps at the end with ranks fixed.")
    update_every: int = Field(1, ge=1, le=10000, description="Steps between two budget updates.")
    beta1: float = Field(0.85, gt=0.0, lt=1.0, description="Smoothing of the importance scores.")
    beta2: float = Field(0.85, gt=0.0, lt=1.0, description="Smoothing of their uncertainty.")
    orth_reg_weight: float = Field(0.5, ge=0.0, le=10.0, description="Weight of the orthogonality penalty.")

    @model_validator(mode="after")
    def _prunes_down(self) -> AdaLoraParams:
        if self.target_r > self.init_r:
            raise ValueError(
                f"target_r ({self.target_r}) must not exceed init_r ({self.init_r}): ranks only shrink"
            )
        if self.warmup_share + self.final_share >= 1:
            raise ValueError(
                "warmup_share + final_share must stay below 1, or no step is left to prune ranks"
            )
        return self


def adalora_schedule(params: AdaLoraParams, total_steps: int) -> tuple[int, int]:
    """(tinit, tfinal) in steps, leaving at least one step of budgeting as peft requires."""
    tinit, tfinal = int(params.warmup_share * total_steps), int(params.final_share * total_steps)
    while tinit + tfinal >= total_steps and (tinit or tfinal):
        tinit, tfinal = max(tinit - 1, 0), max(tfinal - 1, 0)
    return tinit, tfinal


def apply_adalora(model: Any, params: AdaLoraParams, ctx: Context) -> Prepared:
    from peft import AdaLoraConfig

    from trainers.methods.callbacks import AdaLoraBudget

    tinit, tfinal = adalora_schedule(params, ctx.total_steps)
    config = AdaLoraConfig(
        task_type=ctx.task_type,
        init_r=params.init_r,
        target_r=params.target_r,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=params.target_modules,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=params.update_every,
        beta1=params.beta1,
        beta2=params.beta2,
        orth_reg_weight=params.orth_reg_weight,
        total_step=ctx.total_steps,
    )
    return Prepared(wrap_peft(model, config, "method_params"), callbacks=[AdaLoraBudget()])


METHOD = TrainMethod(
    name="adalora",
    title="AdaLoRA",
    description="LoRA that moves its rank budget to the layers that matter most while it trains.",
    paper="https://arxiv.org/abs/2303.10512",
    apply=apply_adalora,
    method_params=AdaLoraParams,
)
