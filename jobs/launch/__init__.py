"""The one launch path: every job of every kind is created here, from a typed request.

Forms, the guided set-up, the REST API, retry, clone and continue are thin doors onto
``launch()``. It checks the request once — inputs the team may use, the rules of the job's kind
(its traits in ``jobs.launch.kinds``), then the trainer's own spec models, by building the first
attempt's spec exactly as the dispatcher will — and creates the job, its inputs and its compute profile in one
transaction, enqueuing dispatch on commit. A refusal is ``LaunchRefused``: each problem names where
it is in the request (``("training", "learning_rate")``, ``("models", 1)``), and the doors turn
those places into their own field names (``jobs.launch.errors``), so the browser and the API refuse
the same things with the same words.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from jobs.assets import lineage
from jobs.gates import GATE
from jobs.launch import kinds
from jobs.launch.types import (
    DatasetInput,
    LaunchRefused,
    LaunchRequest,
    Loc,
    ModelInput,
    Problem,
    pydantic_problems,
)
from jobs.lifecycle import specs, transitions
from jobs.models import ComputeProfile, Dataset, Job, ModelAsset, Team
from trainers.spec import SpecError

__all__ = ["DatasetInput", "LaunchRefused", "LaunchRequest", "ModelInput", "Problem", "launch"]


def launch(request: LaunchRequest) -> Job:
    """Create and queue the job ``request`` asks for; LaunchRefused, with nothing kept, if it cannot run."""
    request = kinds.with_named_inputs(request)
    problems = kinds.problems(request)
    if problems:
        raise LaunchRefused(problems)
    traits = kinds.KINDS[request.kind]
    with transaction.atomic():
        job = Job.objects.create(
            team=request.team,
            created_by=request.user,
            name=request.name[:200],
            kind=request.kind,
            method=request.method or str(request.params.get("method", request.kind)),
            objective=(request.objective or "sft") if traits.objective else "",
            base_model=_primary_model(request),
            dataset=request.dataset("dataset") if traits.primary_dataset else None,
            profile=request.profile,
            params=request.params,
            max_attempts=settings.HONE_MAX_ATTEMPTS,
            parent=request.parent,
            trial_number=request.trial_number,
        )
        lineage.record_inputs(
            job,
            models=[(m.role, m.model, m.weight) for m in request.models],
            datasets=[(d.role, d.dataset) for d in request.datasets],
        )
        try:  # leaving the atomic block with an exception rolls the job back, and its dispatch
            spec = specs.build_spec(job, 1, None)
        except SpecError as exc:
            raise refused(exc) from None
        traits.file_checks(job, spec)
        if traits.keep_params is not None:  # the parameters as the trainer reads them, defaults filled in
            job.params = traits.keep_params(spec) | _gate_part(request.params)
            job.save(update_fields=["params"])
        _enter_first_status(job, traits.first_status)
    return job


def _gate_part(params: dict) -> dict:
    """A training job's promotion gate is the platform's, not the trainer's: kept beside its groups."""
    return {GATE: params[GATE]} if GATE in params else {}


def _enter_first_status(job: Job, status: str) -> None:
    """A job is queued, and dispatched on commit (jobs.tasks.on_job_changed). One that runs no
    trainer (a sweep) is running from the start, and the reconciler drives it (jobs/sweeps/)."""
    if status == Job.Status.QUEUED:
        transitions.record(job.pk, Job.Status.QUEUED)
        return
    job.status, job.started_at = status, timezone.now()
    Job.objects.filter(pk=job.pk).update(status=job.status, started_at=job.started_at)
    transitions.record(job.pk, status)


def _primary_model(request: LaunchRequest) -> ModelAsset | None:
    """The model lists and filters show for the job: the base (a merge without one: its first model)."""
    return request.model("base") or (request.models[0].model if request.models else None)


def refused(exc: SpecError) -> LaunchRefused:
    """A SpecError as LaunchRefused, each problem at the spec field it is about."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError):
        return LaunchRefused([located((), str(exc).removeprefix("invalid job spec: "))])
    return LaunchRefused([located(p.loc, p.message) for p in pydantic_problems(cause)])


def located(loc: Loc, message: str) -> Problem:
    """A whole-spec message that names its field first ("outputs: …") is about that field."""
    if not loc and (named := re.match(r"^([A-Za-z_][\w.]*): ", message)):
        return Problem(tuple(named.group(1).split(".")), message[named.end() :])
    return Problem(loc, message)


def training(
    *,
    team: Team,
    user,
    name: str,
    base_model: ModelAsset,
    dataset: Dataset,
    params: dict,
    method: str = "lora",
    objective: str = "",
    start_from: ModelAsset | None = None,
    profile: ComputeProfile | None = None,
    validation: Dataset | None = None,
) -> LaunchRequest:
    """A training job's request: ``params`` holds the method's groups (and the objective's own), and
    ``gate`` (jobs/gates.py); ``validation`` is evaluated on instead of a held-out share."""
    models = (ModelInput("base", base_model),) + ((ModelInput("model", start_from),) if start_from else ())
    datasets = (DatasetInput("dataset", dataset),)
    if validation is not None:
        datasets += (DatasetInput("validation", validation),)
    return LaunchRequest(
        kind=Job.Kind.TRAIN,
        team=team,
        user=user,
        name=name or f"{base_model.name} on {dataset.name}",
        method=method,
        objective=objective,
        params=params,
        models=models,
        datasets=datasets,
        profile=profile,
    )


def launch_training(**fields) -> Job:
    """``launch(training(**fields))``: a training job through the one launch path."""
    return launch(training(**fields))


def launch_job(kind: str, **fields) -> Job:
    """``launch(LaunchRequest.of(kind, **fields))``: inputs as (role, model, weight) and (role, dataset)."""
    return launch(LaunchRequest.of(kind, **fields))


def rerun_request(job: Job, *, user, name: str | None = None) -> LaunchRequest:
    """The request that made ``job``, from its record: the same inputs (roles, order, weights),
    objective, method, parameters and compute profile. Retry and clone start from it."""
    inputs = list(job.inputs.select_related("model", "dataset").order_by("position", "pk"))
    models = tuple(ModelInput(i.role, i.model, i.weight) for i in inputs if i.model_id)
    datasets = tuple(DatasetInput(i.role, i.dataset) for i in inputs if i.dataset_id)
    if job.kind == Job.Kind.TRAIN and not models and job.base_model_id:  # recorded before lineage
        models = (ModelInput("base", job.base_model),)
    if job.kind == Job.Kind.TRAIN and not datasets and job.dataset_id:
        datasets = (DatasetInput("dataset", job.dataset),)
    return LaunchRequest(
        kind=job.kind,
        team=job.team,
        user=user,
        name=name or job.name,
        method=job.method,
        objective=job.objective,
        params=job.params,
        models=models,
        datasets=datasets,
        profile=job.profile,
    )
