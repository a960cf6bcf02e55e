"""The preference objectives' own parameters (a group of the spec named after each objective).

Each field has a type, a range, a default and a one-line help; each group's description links
the paper. The groups are passed to TRL's configs as they are, so names follow TRL.
Nothing here imports torch or the rest of the trainer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trainers.objectives.base import ObjectiveParams


class DpoParams(ObjectiveParams):
    """DPO: learn from preference pairs against a frozen reference model. https://arxiv.org/abs/2305.18290"""

    beta: float = Field(
        0.1, gt=0.0, le=10.0,
        description="How far the model may drift from the reference; higher stays closer (0.1-0.5 usual).",
    )
    loss_type: Literal["sigmoid", "ipo", "hinge"] = Field(
        "sigmoid", description="sigmoid: the paper's loss; ipo: IPO (arxiv.org/abs/2310.12036); hinge: SLiC."
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=0.5, description="Assumed share of flipped preference labels (robust DPO); 0 is off."
    )


class OrpoParams(ObjectiveParams):
    """ORPO: SFT plus an odds-ratio penalty, no reference model. https://arxiv.org/abs/2403.07691"""

    beta: float = Field(
        0.1, gt=0.0, le=10.0, description="Weight of the odds-ratio term against the SFT loss (λ, paper)."
    )


class SimpoParams(ObjectiveParams):
    """SimPO: length-normalised reward with a target margin, no reference model. https://arxiv.org/abs/2405.14734"""

    beta: float = Field(
        2.0, gt=0.0, le=20.0, description="Scale of the length-normalised reward (the paper uses 2.0-2.5)."
    )
    simpo_gamma: float = Field(
        0.5, ge=0.0, le=10.0, description="Target reward margin between chosen and rejected (γ, paper)."
    )


class KtoParams(ObjectiveParams):
    """KTO: learns from responses marked good or bad, one at a time. https://arxiv.org/abs/2402.01306"""

    beta: float = Field(
        0.1, gt=0.0, le=10.0, description="How far the model may drift from the reference; higher: closer."
    )
    desirable_weight: float = Field(
        1.0, gt=0.0, le=10.0, description="Weight of the loss on good (chosen) responses."
    )
    undesirable_weight: float = Field(
        1.0, gt=0.0, le=10.0, description="Weight of the loss on bad (rejected) responses."
    )
