"""An evolved merge's checks, before it is created: the merge every trial starts from (the merge job's
own rules), its space against the merge method (``trainers.merge_space``), the evaluation data
against the models' task and the metric against what an evaluate job of that task reports."""

from __future__ import annotations

import dataclasses

from jobs.launch.types import LaunchRequest, Problem
from jobs.models import Job, ModelAsset
from trainers.evaluation.data import LM_TASKS
from trainers.merge_space import merge_space_problems

# What an evaluate job reports of the candidate, by the models' task (trainers/evaluation/run.py).
METRICS = {
    ModelAsset.Task.CAUSAL_LM: ("eval/perplexity",),
    ModelAsset.Task.CLASSIFICATION: ("eval/accuracy", "eval/macro_f1"),
}
DATA_TASKS = {ModelAsset.Task.CAUSAL_LM: LM_TASKS, ModelAsset.Task.CLASSIFICATION: ("classification",)}
# Methods that choose their own mix (greedy_soup scores soups itself) or make adapters have nothing
# for a sweep to search or no model for an evaluate job to score.
NOT_SEARCHED = ("greedy_soup",)


def problems(request: LaunchRequest, merge_problems) -> list[Problem]:
    """What is wrong with a merge sweep, each at its place (``space.params.density``, ``dataset``);
    ``merge_problems``: the merge job's own rules (``jobs.launch.rules.merge_problems``)."""
    trial = request.params.get("trial") or {}
    method = str(trial.get("method", ""))
    if method in NOT_SEARCHED:
        return [Problem(("trial", "method"), f"{method} picks its own mix; sweep linear, ties or dare_ties")]
    merged = [m.model for m in request.models if m.role == "model"]
    template = dataclasses.replace(request, kind=Job.Kind.MERGE, params=trial, datasets=())
    found = merge_problems(template)
    space = merge_space_problems(request.params.get("space"), method=method, models=len(merged))
    found += [Problem(("space", *place), message) for place, message in space]
    return found + evaluation_problems(request, merged)


def evaluation_problems(request: LaunchRequest, merged: list[ModelAsset]) -> list[Problem]:
    """The evaluation data each merged model is scored on, and the metric read from that score."""
    data = request.dataset("dataset")
    if data is None:
        return [Problem(("dataset",), "required: the evaluation data each merged model is scored on")]
    if not merged:
        return []
    task = merged[0].task
    found = []
    if data.task not in DATA_TASKS.get(task, ()):
        wanted = ", ".join(DATA_TASKS.get(task, ()))
        found.append(
            Problem(
                ("dataset",),
                f"{data.name} holds {data.task} data; {merged[0].name} is scored on {wanted} data",
            )
        )
    metric = request.params.get("metric", "eval/loss")
    if metric not in METRICS.get(task, ()):
        known = ", ".join(METRICS.get(task, ()))
        found.append(Problem(("metric",), f"an evaluation of these models reports {known}, not {metric}"))
    return found
