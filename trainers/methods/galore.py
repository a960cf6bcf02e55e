"""GaLore (Zhao et al. 2024, "Memory-Efficient LLM Training by Gradient Low-Rank Projection"): full
fine-tuning whose AdamW moments live in a rank-r projection of each linear layer's gradient, the
projection refreshed from the gradient's SVD every ``update_proj_gap`` steps. Through transformers'
``optim="galore_adamw"`` and the ``galore-torch`` package; the result is a whole model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodError, MethodParams, Prepared, TrainMethod


class GaloreParams(MethodParams):
    rank: int = Field(
        128, ge=1, le=4096, description="Rank of the gradient projection (the paper: 128 to 512)."
    )
    update_proj_gap: int = Field(
        200,
        ge=1,
        le=100_000,
        description="Optimizer steps between refreshes of the projection (an SVD each).",
    )
    scale: float = Field(0.25, gt=0.0, le=10.0, description="Scale of the projected update (the paper's α).")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="Linear layers whose gradients are projected; the rest train with plain AdamW.",
    )


class GaloreOptimizer:
    """Sets the Trainer's arguments to GaLore-AdamW before it builds its optimizer."""

    def __init__(self, params: GaloreParams) -> None:
        self.params = params

    def __call__(self, trainer: Any) -> None:
        from transformers.training_args import OptimizerNames

        p = self.params
        trainer.args.optim = OptimizerNames.GALORE_ADAMW
        trainer.args.optim_target_modules = p.target_modules
        trainer.args.optim_args = f"rank={p.rank},update_proj_gap={p.update_proj_gap},scale={p.scale}"


def apply_galore(model: Any, params: GaloreParams, ctx: Context) -> Prepared:
    from transformers.utils import is_galore_torch_available

    if not is_galore_torch_available():
        raise MethodError("method: GaLore needs the galore-torch package, which this trainer image lacks")
    for param in model.parameters():
        param.requires_grad_(True)
    return Prepared(model, configure_trainer=GaloreOptimizer(params))


METHOD = TrainMethod(
    name="galore",
    title="GaLore",
    description="Full fine-tuning with AdamW's state kept in a low-rank projection of each gradient: "
    "every weight learns, with far less optimizer memory than full AdamW.",
    paper="https://arxiv.org/abs/2403.03507",
    apply=apply_galore,
    method_params=GaloreParams,
    artifact="model",
)
