"""The rules a job must meet before it is created, once for every door (``jobs.launch``).

Each kind has its checks of the request (``<kind>_problems``, named by its entry in
``jobs.launch.kinds``): what can be told from the records alone, in the user's words, at the place
in the request each is about; ``unavailable`` runs first for every kind. Then the spec is built
and parsed by the trainer's own models, and the kind's ``<kind>_files`` runs the checks that read
files without loading weights (a merge's compatibility, a calibration set's size).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django.conf import settings
from pydantic import ValidationError

import jobs.launch.reward_models as reward_models
from jobs import gates
from jobs.launch.curate_checks import check_curate_time, influence_problems
from jobs.launch.file_checks import (
    check_calibration_size,
    check_group_size,
    check_merge_files,
    check_quantize_budget,
)
from jobs.launch.gate_checks import merge_gate_problems, train_gate_problems
from jobs.launch.grpo_checks import SAMPLING_OBJECTIVES, check_grpo_rows
from jobs.launch.merge_sweep_checks import problems as merge_search_problems
from jobs.launch.sweep_checks import budget_problems, setting_problems, unknown_settings
from jobs.launch.sweep_checks import problems as search_problems
from jobs.launch.types import LaunchRequest, Loc, Problem, pydantic_problems
from jobs.lifecycle import shape
from jobs.models import ComputeProfile, Dataset, Job, ModelAsset
from trainers import catalogue, distributed
from trainers.objectives.params import OBJECTIVE_PARAMS, OBJECTIVE_TASKS, either


def unavailable(request: LaunchRequest, input_loc: Callable[[str, int], Loc]) -> list[Problem]:
    """Inputs and a compute profile the request's team may not use, each at its place in the request
    (``input_loc(role, position)``)."""
    found = []
    for i, given in enumerate(m for m in request.models if m.role == "model"):
        if given.model.team_id not in (None, request.team.pk):
            found.append(
                Problem(
                    input_loc("model", i),
                    f"model {given.model.pk} is not available to {request.team.name}",
                )
            )
    for given in request.models:
        if given.role != "model" and given.model.team_id not in (None, request.team.pk):
            found.append(
                Problem(
                    input_loc(given.role, 0),
                    f"model {given.model.pk} is not available to {request.team.name}",
                )
            )
    positions: dict[str, int] = {}
    for given in request.datasets:
        position = positions[given.role] = positions.get(given.role, -1) + 1
        if given.dataset.team_id != request.team.pk:
            found.append(
                Problem(
                    input_loc(given.role, position),
                    f"dataset {given.dataset.pk} is not available to {request.team.name}",
                )
            )
    if (
        request.profile is not None
        and not ComputeProfile.objects.visible_to(request.team).filter(pk=request.profile.pk).exists()
    ):
        found.append(
            Problem(
                ("compute_profile",),
                f"compute profile {request.profile.name} is not open to "
                f"{request.team.name}; see GET /api/v1/profiles",
            )
        )
    return found


# --- training ----------------------------------------------------------------------------


def train_problems(request: LaunchRequest) -> list[Problem]:
    objective = request.objective or "sft"
    if objective not in OBJECTIVE_TASKS:
        return [
            Problem(
                ("objective",), f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVE_TASKS)}"
            )
        ]
    method = catalogue.METHODS.get(request.method)
    if method is None or method.kind != "train":
        known = ", ".join(m.name for m in catalogue.methods("train"))
        return [Problem(("method",), f"unknown training method {request.method!r}; use one of {known}")]
    found = []
    base, dataset = request.model("base"), request.dataset("dataset")
    if base is None or dataset is None:
        found += [
            Problem((name,), "required")
            for name, given in (("base_model", base), ("dataset", dataset))
            if given is None
        ]
    if base is not None and (why := base.base_problem(objective)):
        found.append(Problem(("base_model",), why))
    if dataset is not None and dataset.task not in OBJECTIVE_TASKS[objective]:
        found.append(Problem(("dataset",), unfit(dataset, objective)))
    found += _validation(dataset, request.dataset("validation"))
    if objective not in method.objectives:
        trains = [m.name for m in catalogue.methods("train") if objective in m.objectives]
        found.append(
            Problem(
                ("method",), f"{method.title} does not train the {objective} objective; pick {either(trains)}"
            )
        )
    found += _param_groups(method, objective, request.params)
    found += reward_models.problems(request)
    found += train_gate_problems(request, base)
    profile = request.profile or ComputeProfile.objects.default()
    if method.needs_cuda and profile is not None and profile.gpu_count == 0:
        found.append(
            Problem(
                ("method",),
                f"{method.title} needs a CUDA GPU and compute profile "
                f"{profile.name} has none; pick a GPU profile, or use lora",
            )
        )
    if why := shape.choice_problem(request.params, profile):
        found.append(Problem(("distributed", "strategy"), why))
    if not found and base is not None:
        planned = shape.plan(base, profile, method.name, request.params)
        if why := shape.problem(planned, profile, executor=settings.HONE_EXECUTOR):
            found.append(Problem(("compute_profile",), why))
    return found


def _validation(dataset: Dataset | None, validation: Dataset | None) -> list[Problem]:
    """The trainer reads evaluation rows as it reads the training rows: the same task and format."""
    if dataset is None or validation is None:
        return []
    if (validation.task, validation.format) != (dataset.task, dataset.format):
        return [
            Problem(
                ("validation",),
                f"{validation.name} holds {validation.task} data as {validation.format}, but the training "
                f"data is {dataset.task} as {dataset.format}; evaluation rows must be of the same kind",
            )
        ]
    return []


def unfit(dataset: Dataset, objective: str) -> str:
    """Why the objective cannot learn from the dataset, and the team's data that would fit."""
    tasks = OBJECTIVE_TASKS[objective]
    fitting = [name for name, ok in OBJECTIVE_TASKS.items() if dataset.task in ok]
    names = list(dataset.team.datasets.filter(task__in=tasks).values_list("name", flat=True)[:5])
    here = (
        f" Datasets here that fit: {', '.join(names)}."
        if names
        else f" This team has no {either(tasks)} dataset yet; upload one."
    )
    return (
        f"{dataset.name} holds {dataset.task} data, but the {objective} objective learns from "
        f"{either(tasks)} data; pick such a dataset, or objective {either(fitting)}.{here}"
    )


def _param_groups(method: catalogue.Method, objective: str, params: dict) -> list[Problem]:
    """Each group through its model, errors at their fields (``("lora", "r")``); groups the method
    does not read, and other objectives' groups, named where they stand."""
    found = []
    for group, given in params.items():
        if group == gates.GATE:  # not the trainer's: checked by gate_checks
            continue
        model = method.params.get(group) or (OBJECTIVE_PARAMS.get(group) if group == objective else None)
        model = distributed.StrategyChoice if group == "distributed" else model
        if group in OBJECTIVE_PARAMS and group != objective:
            message = f"parameters of the {group} objective, but the objective is {objective!r}; remove it"
            found.append(Problem((group,), message))
        elif model is None:
            known = ", ".join([*method.params, "distributed"])
            found.append(
                Problem((group,), f"{method.name} has no parameter group {group!r}; it takes {known}")
            )
        elif not isinstance(given, dict):
            found.append(Problem((group,), "must be an object"))
        else:
            try:
                model.model_validate(given)
            except ValidationError as exc:
                found += pydantic_problems(exc, (group,))
    return found


def stored_params(spec: dict) -> dict:
    """A training job's params as the trainer reads them, defaults filled in: the method's groups,
    and the objective's own group where it has one."""
    kept = {group: spec[group] for group in catalogue.get(spec["method"]).params}
    if (chosen := spec.get("distributed", {}).get("asked", "auto")) != "auto":  # the user's strategy
        kept["distributed"] = {"strategy": chosen}
    objective = spec["objective"]
    if objective in OBJECTIVE_PARAMS:
        kept[objective] = spec.get(objective) or OBJECTIVE_PARAMS[objective]().model_dump(mode="json")
    return kept


# --- merge, quantize, evaluate -------------------------------------------------------------


def quantized(model: ModelAsset) -> str:
    """Why a model is not full precision, or ''."""
    if model.format == ModelAsset.Format.GGUF:
        return "a GGUF export"
    return f"quantized ({model.quantization})" if model.quantization else ""


def merge_problems(request: LaunchRequest) -> list[Problem]:
    found = []
    for i, given in enumerate(m for m in request.models if m.role == "model"):
        if why := quantized(given.model):
            found.append(
                Problem(
                    ("models", i),
                    f"{given.model.name} is {why}; a merge needs full-precision "
                    "weights: merge the original models, then quantize the result with a "
                    "quantize job",
                )
            )
    base = request.model("base")
    if base is not None and (why := quantized(base)):
        found.append(Problem(("base_model",), f"{base.name} is {why}; pick the full-precision base model"))
    method = request.params.get("method")
    if (method == "greedy_soup") != (request.dataset("dataset") is not None):
        found.append(
            Problem(
                ("dataset",),
                "greedy_soup needs dataset: held-out data to score each soup on"
                if method == "greedy_soup"
                else f"{method} reads no dataset; only greedy_soup does (to score soups on)",
            )
        )
    return found + merge_gate_problems(request)


def quantize_problems(request: LaunchRequest) -> list[Problem]:
    model = request.model("base")
    if model is None:
        return [Problem(("model",), "required")]
    if why := quantized(model):
        return [Problem(("model",), f"{model.name} is already {why}; quantize its full-precision original")]
    if model.format == ModelAsset.Format.ADAPTER:
        return [
            Problem(
                ("model",),
                f"{model.name} is a LoRA adapter; fold it into its base with a "
                "lora_fold merge, then quantize that",
            )
        ]
    if model.task != ModelAsset.Task.CAUSAL_LM or not model.path:
        return [
            Problem(
                ("model",),
                f"{model.name} cannot be quantized: give a text-generation model with files on the server",
            )
        ]
    return []


def curate_problems(request: LaunchRequest) -> list[Problem]:
    """Data of one kind in, an evaluation set of that kind, a budget, models that can do their part."""
    datasets = [d.dataset for d in request.datasets if d.role == "dataset"]
    if not datasets:
        return [Problem(("datasets",), "required: one or more datasets to curate")]
    found = []
    task = datasets[0].task
    for i, dataset in enumerate(datasets[1:], start=1):
        if dataset.task != task:
            found.append(Problem(("datasets", i), f"{dataset.name} holds {dataset.task} data, "
                                 f"{datasets[0].name} {task}; curate data of one kind together"))
    eval_set = request.dataset("eval")
    if eval_set is not None and eval_set.task != task:
        found.append(Problem(("eval_set",), f"{eval_set.name} holds {eval_set.task} data but the datasets "
                             f"hold {task}; give an evaluation set of the same kind"))
    if request.params.get("labels") is not None and task != "classification":
        found.append(Problem(("labels",), f"label problems are found in classification data; "
                             f"{datasets[0].name} holds {task} data: turn this step off"))
    if request.params.get("difficulty") is not None and task != "classification":
        found.append(Problem(("difficulty",), f"margins are of classification labels; {datasets[0].name} "
                             f"holds {task} data: turn this step off"))
    found += influence_problems(request, task)
    if not request.params.get("budget"):
        found.append(Problem(("budget",), "required: keep_rows (a number of rows) or keep_percent"))
    for role, where in (("base", "tokenizer"), ("model", "embedder")):
        model = request.model(role)
        if model is not None and (model.format != ModelAsset.Format.TRANSFORMERS or not model.path):
            found.append(Problem((where,), f"{model.name} has no transformers files on the server to read"))
    return found


def sweep_problems(request: LaunchRequest) -> list[Problem]:
    """The training job every trial starts from (``params.trial``), then the search itself. An evolved
    merge (``trial_kind: "merge"``): the merge every trial starts from, its space and evaluation."""
    kind = request.params.get("trial_kind", "train")
    if kind == "merge":
        search = request.params
        found = unknown_settings(search) + merge_search_problems(request, merge_problems)
        return found + setting_problems(search) + budget_problems(request)
    if kind != "train":
        return [Problem(("trial_kind",), f"a trial is a train or a merge job, not {kind!r}")]
    template = dataclasses.replace(request, kind=Job.Kind.TRAIN, params=request.params.get("trial") or {})
    return train_problems(template) + search_problems(request)


def sweep_files(job: Job, spec: dict) -> None:
    """An evolved merge's models fit together, as its first trial's merge would find."""
    if spec["trial_kind"] == "merge":
        check_merge_files(spec["trial"])


def merge_files(job: Job, spec: dict) -> None:
    """The models' files fit together (architectures, shapes, tokenizers): LaunchRefused otherwise."""
    check_merge_files(spec)


def quantize_files(job: Job, spec: dict) -> None:
    """The group size divides the layers, a mixed precision budget fits them, and the calibration
    set holds enough rows."""
    check_group_size(spec)
    check_quantize_budget(spec)
    check_calibration_size(job, spec)


def train_files(job: Job, spec: dict) -> None:
    """A sampling objective's rows against its rewards and completion budget."""
    if spec["objective"] in SAMPLING_OBJECTIVES:
        check_grpo_rows(job, spec)


def curate_files(job: Job, spec: dict) -> None:
    """The job's estimated time (rows × steps) within its profile's limit."""
    check_curate_time(job, spec)
