"""What each objective learns from, and its own parameters (a group of the spec named after it).

Each field has a type, a range, a default and a one-line help; each group's description links
the paper. The preference groups are passed to TRL's configs as they are, so names follow TRL.
Nothing here imports torch or the rest of the trainer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Objective = Literal["sft", "pretrain", "classification", "dpo", "orpo", "simpo", "kto"]
PREFERENCE_OBJECTIVES = ("dpo", "orpo", "simpo", "kto")

# The dataset tasks each objective learns from (checked when a spec is validated).
OBJECTIVE_TASKS: dict[str, tuple[str, ...]] = {
    "sft": ("instruction", "chat", "text"),
    "pretrain": ("text",),
    "classification": ("classification",),
    **{name: ("preference",) for name in PREFERENCE_OBJECTIVES},
}

OBJECTIVE_TITLES: dict[str, str] = {
    "sft": "Supervised fine-tuning (loss on the responses)",
    "pretrain": "Continued pre-training on raw text (packed, loss on every token)",
    "classification": "Sequence classification (text + label)",
    "dpo": "Direct Preference Optimization (DPO)",
    "orpo": "Odds Ratio Preference Optimization (ORPO)",
    "simpo": "Simple Preference Optimization (SimPO)",
    "kto": "Kahneman-Tversky Optimization (KTO)",
}


class ObjectiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


# The parameter group of each objective that has one; the spec names the group after the objective.
OBJECTIVE_PARAMS: dict[str, type[ObjectiveParams]] = {
    "dpo": DpoParams,
    "orpo": OrpoParams,
    "simpo": SimpoParams,
    "kto": KtoParams,
}


def either(names: tuple[str, ...] | list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def objective_problem(objective: str, task: str, groups_given: set[str]) -> str | None:
    """Why ``objective`` cannot learn from ``task`` data (or takes a group it does not use); None if fine."""
    tasks = OBJECTIVE_TASKS[objective]
    if task not in tasks:
        fitting = sorted(name for name, ok in OBJECTIVE_TASKS.items() if task in ok)
        return (
            f"objective: {objective} learns from {either(tasks)} data, but dataset.task is {task!r}; "
            f"use such a dataset, or for {task} data pick objective {either(fitting)}"
        )
    stray = sorted(groups_given - {objective})
    if stray:
        group = stray[0]
        return f"{group}: parameters of the {group} objective, but objective is {objective!r}; remove them"
    return None
