"""A sweep's own checks, before it is created: its space against the catalogue's parameter models and
its budget against the team's quotas (``jobs.launch.rules`` checks the training job it starts from)."""

from __future__ import annotations

from typing import Annotated

from pydantic import TypeAdapter, ValidationError

from jobs.launch.types import LaunchRequest, Problem, pydantic_problems
from jobs.models import ComputeProfile
from trainers import catalogue
from trainers.spec_sweep import Budget, SweepSpec
from trainers.sweep_space import space_problems

# What a sweep's params hold besides ``trial`` (the training parameters every trial starts from).
SEARCH_FIELDS = (
    "space",
    "sampler",
    "pruner",
    "warmup_evals",
    "metric",
    "direction",
    "budget",
    "seed",
    "compare_preset",
    "trial_kind",
)


def unknown_settings(search: dict) -> list[Problem]:
    known = (*SEARCH_FIELDS, "trial")
    return [Problem((name,), "not a sweep setting") for name in search if name not in known]


def problems(request: LaunchRequest) -> list[Problem]:
    """What is wrong with the sweep's space and budget, each at its place (``space.lora.r``)."""
    search = request.params
    found = unknown_settings(search)
    objective = request.objective or "sft"
    fitting = {m.name: m.method_params for m in catalogue.methods("train") if objective in m.objectives}
    found += [
        Problem(("space", *place), message)
        for place, message in space_problems(
            search.get("space"), method=request.method, methods=fitting, objective=objective
        )
    ]
    return found + setting_problems(search) + budget_problems(request)


def setting_problems(search: dict) -> list[Problem]:
    """The sampler, pruner, warm-up, metric… each through its field of the sweep's spec."""
    found = []
    for name in SEARCH_FIELDS:
        if name in ("space", "budget", "trial_kind") or name not in search:
            continue
        info = SweepSpec.model_fields[name]
        try:
            TypeAdapter(Annotated[info.annotation, info]).validate_python(search[name])
        except ValidationError as exc:
            found += pydantic_problems(exc, (name,))
    return found


def budget_problems(request: LaunchRequest) -> list[Problem]:
    """The budget through its model, then against the team's quotas: trials at once never hold more
    GPUs than the team may, and the GPU-hours asked for fit in its month."""
    try:
        budget = Budget.model_validate(request.params.get("budget") or {})
    except ValidationError as exc:
        return pydantic_problems(exc, ("budget",))
    team = request.team
    profile = request.profile or ComputeProfile.objects.default()
    gpus = profile.gpu_count if profile is not None else 0
    found = []
    if gpus and team.max_gpus is not None and budget.parallel * gpus > team.max_gpus:
        most = team.max_gpus // gpus
        found.append(
            Problem(
                ("budget", "parallel"),
                f"{budget.parallel} trials at once would hold {budget.parallel * gpus} GPUs; team "
                f"{team.name} may hold {team.max_gpus}, so run at most {most} at once",
            )
        )
    month = team.gpu_hours_per_month
    if budget.gpu_hours is not None and month is not None and budget.gpu_hours > month:
        found.append(
            Problem(
                ("budget", "gpu_hours"),
                f"{budget.gpu_hours:g} GPU-hours is above team {team.name}'s quota of {month} a month",
            )
        )
    return found
