"""Every training objective Hone offers, in one explicit dict; SFT is one entry among the others.

Adding an objective is one entry here and one file with its ``Recipe`` (see ``base.py``); if it
has parameters, a group model and a field of its name on ``TrainSpec``. The spec, the methods'
objective lists, the catalogue and the platform's forms read this registry. Importing this module
does not import torch, the spec or the recipes.
"""

from __future__ import annotations

from typing import Literal

from trainers.lookup import lookup
from trainers.objectives.base import Objective, ObjectiveParams
from trainers.objectives.grpo_params import GrpoParams
from trainers.objectives.preference_params import DpoParams, KtoParams, OrpoParams, SimpoParams
from trainers.objectives.refusal_params import RefusalParams
from trainers.objectives.rejection_params import RejectionParams

OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        Objective(
            "sft",
            "Supervised fine-tuning (loss on the responses)",
            tasks=("instruction", "chat", "text"),
            recipe="trainers.objectives.sft:RECIPE",
            packs=True,
        ),
        Objective(
            "pretrain",
            "Continued pre-training on raw text (packed, loss on every token)",
            tasks=("text",),
            recipe="trainers.objectives.pretrain:RECIPE",
            packs=True,
        ),
        Objective(
            "classification",
            "Sequence classification (text + label)",
            tasks=("classification",),
            recipe="trainers.objectives.classification:RECIPE",
            task_type="SEQ_CLS",
        ),
        *(
            Objective(
                name,
                title,
                tasks=("preference",),
                recipe="trainers.objectives.preference:RECIPE",
                params=params,
                virtual_tokens=False,
            )
            for name, title, params in (
                ("dpo", "Direct Preference Optimization (DPO)", DpoParams),
                ("orpo", "Odds Ratio Preference Optimization (ORPO)", OrpoParams),
                ("simpo", "Simple Preference Optimization (SimPO)", SimpoParams),
                ("kto", "Kahneman-Tversky Optimization (KTO)", KtoParams),
            )
        ),
        Objective(
            "grpo",
            "Reinforcement fine-tuning with verifiable rewards (GRPO)",
            tasks=("instruction", "chat"),
            recipe="trainers.objectives.grpo:RECIPE",
            params=GrpoParams,
            virtual_tokens=False,  # TRL's GRPO slices logits by completion position
        ),
        Objective(
            "rejection_sampling",
            "Rejection-sampling fine-tuning: keep the answers the rewards verify, then SFT on them",
            tasks=("instruction", "chat"),
            recipe="trainers.objectives.rejection_sampling:RECIPE",
            params=RejectionParams,
            virtual_tokens=False,  # untested with prompt-based methods: offered with the others only
        ),
        Objective(
            "refusal_aware",
            "Refusal-aware tuning: keep the answers the model gets right, say it is not sure to the rest",
            tasks=("instruction", "chat"),
            recipe="trainers.objectives.refusal_aware:RECIPE",
            params=RefusalParams,
            virtual_tokens=False,  # as rejection_sampling
        ),
    )
}

ObjectiveName = Literal[tuple(OBJECTIVES)]  # type: ignore[valid-type]

# Tables the platform reads (through trainers.objectives.params), all derived from the entries.
OBJECTIVE_TASKS: dict[str, tuple[str, ...]] = {o.name: o.tasks for o in OBJECTIVES.values()}
OBJECTIVE_TITLES: dict[str, str] = {o.name: o.title for o in OBJECTIVES.values()}
OBJECTIVE_PARAMS: dict[str, type[ObjectiveParams]] = {
    o.name: o.params for o in OBJECTIVES.values() if o.params is not None
}
PREFERENCE_OBJECTIVES = tuple(o.name for o in OBJECTIVES.values() if "preference" in o.tasks)


def get(name: str) -> Objective:
    from trainers.spec import SpecError  # not at the top: the spec imports this module

    return lookup(OBJECTIVES, name, SpecError, "objective", where="objective")


def either(names: tuple[str, ...] | list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def objective_problem(objective: str, task: str, groups_given: set[str]) -> str | None:
    """Why ``objective`` cannot learn from ``task`` data (or takes a group it does not use); None if fine."""
    tasks = get(objective).tasks
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
