"""OFT (Qiu et al. 2023) and BOFT (Liu et al. 2024): each adapted linear layer's input is rotated by a
learned orthogonal matrix, block-diagonal (OFT) or a product of butterfly-structured blocks (BOFT),
which keeps the angles between a layer's neurons (its "hyperspherical energy") as pre-training left them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import Context, MethodParams, Prepared, TrainMethod, wrap_peft

Targets = list[str] | Literal["all-linear"]


class OFTParams(MethodParams):
    block_size: int = Field(
        32,
        ge=2,
        le=1024,
        description="Size of each orthogonal block; peft moves it to the nearest divisor of "
        "a layer's input width. Bigger blocks train more weights (b·(b−1)/2 per block).",
    )
    coft: bool = Field(False, description="Constrained OFT: keep the rotation within eps of the identity.")
    eps: float = Field(
        6e-5, gt=0.0, le=1.0, description="How far constrained OFT may move from the identity."
    )
    block_share: bool = Field(
        False, description="One block shared by all blocks of a layer (far fewer weights)."
    )
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Chance of dropping a whole block while training."
    )
    target_modules: Targets = Field("all-linear", description="Module names to adapt, or every linear layer.")


class BOFTParams(MethodParams):
    block_size: int = Field(
        4,
        ge=2,
        le=1024,
        description="Size of each butterfly block; must divide every adapted layer's input width "
        "and be even. Hone uses one butterfly factor (peft's only choice without its CUDA extension).",
    )
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Chance of dropping a whole block while training."
    )
    target_modules: Targets = Field("all-linear", description="Module names to adapt, or every linear layer.")


def apply_oft(model: Any, params: OFTParams, ctx: Context) -> Prepared:
    from peft import OFTConfig

    config = OFTConfig(
        task_type=ctx.task_type,
        r=0,
        oft_block_size=params.block_size,
        coft=params.coft,
        eps=params.eps,
        block_share=params.block_share,
        module_dropout=params.dropout,
        target_modules=params.target_modules,
    )
    return Prepared(wrap_peft(model, config, "method_params.block_size"))


def apply_boft(model: Any, params: BOFTParams, ctx: Context) -> Prepared:
    from peft import BOFTConfig

    config = BOFTConfig(
        task_type=ctx.task_type,
        boft_block_size=params.block_size,
        boft_n_butterfly_factor=1,
        boft_dropout=params.dropout,
        target_modules=params.target_modules,
    )
    return Prepared(wrap_peft(model, config, "method_params.block_size"))


OFT = TrainMethod(
    name="oft",
    title="OFT",
    description="Rotates each layer's input by a learned block-diagonal orthogonal matrix: keeps the base "
    "model's neuron geometry, so it forgets less. Likes a learning rate around 1e-4 to 1e-3.",
    paper="https://arxiv.org/abs/2306.07280",
    apply=apply_oft,
    method_params=OFTParams,
)

BOFT = TrainMethod(
    name="boft",
    title="BOFT",
    description="OFT with butterfly-factorised orthogonal blocks and a learned output scale: dense rotations "
    "from few weights.",
    paper="https://arxiv.org/abs/2311.06243",
    apply=apply_boft,
    method_params=BOFTParams,
)
