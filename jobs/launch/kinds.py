"""What each kind of job is, in one entry per ``Job.Kind``: the launch path, the API and the pages
read a kind's traits here instead of comparing kinds.

An entry names the kind's checks of the request (``jobs.launch.rules``), where its inputs sit in
its spec, the checks that read files, how its record is filled in (an objective, a primary dataset,
its parameters as the trainer reads them, the status it starts in), and its doors: the REST API's
serializer and the job page's result section, by name, since those layers sit above this one and
import it (``api.views.jobs`` and ``jobs.web.views`` resolve them when they load). Its spec's
builder is ``jobs.lifecycle.specs.BUILDERS``: the dispatcher builds specs below the launch layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType

import jobs.launch.evaluate_checks as evaluate_checks
import jobs.launch.reward_models as reward_models
import jobs.launch.rules as rules
from jobs.launch.types import LaunchRequest, Loc, Problem
from jobs.models import Job


def _no_files(job: Job, spec: dict) -> None:
    """A kind whose spec names no files to read before it is queued."""


def _as_given(request: LaunchRequest) -> LaunchRequest:
    """A kind whose parameters name no inputs of their own."""
    return request


@dataclasses.dataclass(frozen=True)
class KindTraits:
    label: str  # what the pages call a job of this kind ("Fine-tune", "Merge")
    checks: Callable[[LaunchRequest], list[Problem]]  # the request's problems, from the records
    inputs: Mapping[str, str]  # input role → where it sits in the spec, for problems about it
    api_serializer: str  # "module.Class": the body of POST /api/v1/jobs with this kind
    file_checks: Callable[[Job, dict], None] = _no_files  # reads files (no weights); LaunchRefused
    # The request with the inputs its parameters name (a reward's classifier), before any check.
    named_inputs: Callable[[LaunchRequest], LaunchRequest] = _as_given
    objective: bool = False  # learns an objective (sft when the request names none)
    primary_dataset: bool = False  # its "dataset" input is Job.dataset, for lists and filters
    keep_params: Callable[[dict], dict] | None = None  # Job.params from the built spec
    first_status: str = Job.Status.QUEUED  # queued (dispatched on commit), or running (no trainer)
    result: str = ""  # the job page's result section: a template included by name
    result_context: str = ""  # "module.function": (job, the page's query) -> the result section's context


KINDS: Mapping[str, KindTraits] = MappingProxyType(
    {
        Job.Kind.TRAIN: KindTraits(
            label="Fine-tune",
            checks=rules.train_problems,
            inputs={
                "base": "base_model",
                "dataset": "dataset",
                "model": "init_adapter",
                "validation": "validation",
                "reward_model": "reward_models",
            },
            api_serializer="api.serializers.jobs.JobCreateSerializer",
            file_checks=rules.train_files,
            named_inputs=reward_models.with_inputs,
            objective=True,
            primary_dataset=True,
            keep_params=rules.stored_params,
        ),
        Job.Kind.MERGE: KindTraits(
            label="Merge",
            checks=rules.merge_problems,
            inputs={"base": "base_model", "model": "models", "dataset": "dataset", "golden": "golden"},
            api_serializer="api.serializers.chain_jobs.MergeJobCreateSerializer",
            file_checks=rules.merge_files,
        ),
        Job.Kind.QUANTIZE: KindTraits(
            label="Quantization",
            checks=rules.quantize_problems,
            inputs={"base": "model", "calibration": "calibration", "dataset": "eval_texts"},
            api_serializer="api.serializers.chain_jobs.QuantizeJobCreateSerializer",
            file_checks=rules.quantize_files,
        ),
        Job.Kind.EVALUATE: KindTraits(
            label="Evaluation",
            checks=evaluate_checks.evaluate_problems,
            inputs={
                "base": "base",
                "candidate": "candidate",
                "dataset": "dataset",
                "harness": "harness_datasets",
                "judge": "judge_model",
                "judge_labels": "judge_labels",
            },
            api_serializer="api.serializers.chain_jobs.EvaluateJobCreateSerializer",
        ),
        Job.Kind.CURATE: KindTraits(
            label="Curation",
            checks=rules.curate_problems,
            inputs={
                "dataset": "datasets",
                "eval": "eval_set",
                "target": "target_set",
                "base": "tokenizer",
                "model": "embedder",
            },
            api_serializer="api.serializers.curate_jobs.CurateJobCreateSerializer",
            file_checks=rules.curate_files,
            primary_dataset=True,
            result="jobs/_curate_result.html",
            result_context="jobs.web.curate_views.result_context",
        ),
        Job.Kind.SWEEP: KindTraits(
            label="Sweep",
            checks=rules.sweep_problems,
            inputs={"base": "base_model", "dataset": "dataset", "model": "models"},
            api_serializer="api.serializers.sweeps.SweepJobCreateSerializer",
            file_checks=rules.sweep_files,
            named_inputs=reward_models.sweep_with_inputs,
            objective=True,
            primary_dataset=True,
            first_status=Job.Status.RUNNING,  # it runs no trainer: the reconciler drives its trials
            result="jobs/_sweep.html",
            result_context="jobs.web.sweep_page.sweep_context",
        ),
    }
)
# Inputs given as a list: a problem about one names its place in the list.
LISTED = ("models", "datasets", "harness_datasets")


def with_named_inputs(request: LaunchRequest) -> LaunchRequest:
    """``request`` with the inputs its parameters name added (its kind's ``named_inputs``)."""
    return KINDS[request.kind].named_inputs(request) if request.kind in KINDS else request


def problems(request: LaunchRequest) -> list[Problem]:
    """Everything wrong with ``request`` that the records tell, before anything is created."""
    if request.kind not in KINDS:
        return [Problem(("kind",), f"unknown job kind {request.kind!r}; use one of {', '.join(KINDS)}")]
    found = rules.unavailable(request, lambda role, position: input_loc(request.kind, role, position))
    return found or KINDS[request.kind].checks(request)


def input_loc(kind: str, role: str, position: int) -> Loc:
    """Where the input of ``role`` (the ``position``-th of that role) sits in a ``kind`` spec."""
    where = KINDS[kind].inputs.get(role, role) if kind in KINDS else role
    return (where, position) if where in LISTED else (where,)
