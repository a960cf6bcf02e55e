"""Before a curate job queues: its estimated time (``trainers.curate.estimate``) against the longest
an attempt may run on its compute profile (capped by its team's quota); refused, naming the slowest
step and what to change, when it cannot finish. And what the influence step needs from the records:
a target set of the datasets' kind and a language model."""

from __future__ import annotations

from jobs.guided.sizing import default_profile, device_of
from jobs.launch.types import LaunchRefused, LaunchRequest, Problem
from jobs.lifecycle.queue import time_limit
from jobs.models import Job, ModelAsset
from trainers.curate.estimate import curate_time, too_long
from trainers.spec import parse_spec


def check_curate_time(job: Job, spec: dict) -> None:
    profile = job.profile or default_profile()
    device, limit = device_of(profile), time_limit(job, profile)
    if device is None or limit is None:
        return
    found = curate_time(parse_spec(spec), device)
    problem = too_long(found, limit, f"the {profile.name} profile")
    if problem:
        raise LaunchRefused.at((found.parts[0][0],), problem)


def influence_problems(request: LaunchRequest, task: str) -> list[Problem]:
    """The influence step ranks rows toward a target set of the same kind, with the model's loss."""
    target, influence = request.dataset("target"), request.params.get("influence")
    if target is not None and target.task != task:
        return [Problem(("target_set",), f"{target.name} holds {target.task} data but the datasets hold "
                        f"{task}; give a target set of the same kind")]
    if influence is None:
        if target is not None:
            return [Problem(("target_set",), "only the influence step reads a target set: add it or "
                            "leave the target set out")]
        return []
    if task == "classification":
        return [Problem(("influence",), "ranks rows by a language model's loss; classification rows "
                        "have none: turn this step off")]
    found = []
    if target is None:
        found.append(Problem(("target_set",), "required: a few rows like those the model should get good at"))
    base = request.model("base")
    if base is None:
        found.append(Problem(("tokenizer",), "required: the language model the data is for"))
    elif base.task != ModelAsset.Task.CAUSAL_LM:
        found.append(Problem(("tokenizer",), f"{base.name} is a classifier, not a language model"))
    if request.params.get("diversity") is not None:
        found.append(Problem(("influence",), "fills the budget itself: choose it or diversity, not both"))
    return found
