"""``fine_tuning/jobs``: create, list, retrieve, cancel, events, checkpoints.

A job is an ordinary Hone training job: created by building a LaunchRequest and calling
``jobs.launch.launch`` (the one launch path, which checks it and queues it), listed in the UI,
cancelled by ``jobs.lifecycle.services.cancel``. Only its suffix, metadata and the method as given
are kept beside it (``api.models.OpenAIFineTune``)."""

from __future__ import annotations

from dataclasses import replace

from django.db import transaction
from rest_framework.request import Request
from rest_framework.response import Response

from api.models import OpenAIFineTune
from api.openai_compat import errors, graders, hyperparameters, ids, job_objects, lookup, reinforcement_file
from api.openai_compat.base import OpenAIView, after_of, page
from jobs.launch import DatasetInput, LaunchRefused, launch, training
from jobs.launch.errors import train_api_field
from jobs.lifecycle import services
from jobs.models import Dataset, Event, Job

MAX_SUFFIX = 64
MAX_METADATA_KEYS = 16


def _text(body: dict, name: str, *, required: bool = False, limit: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise errors.InvalidRequest(f"{name} is required.", param=name, code="missing_required_parameter")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise errors.InvalidRequest(f"{name} must be text of 1 to {limit} characters.", param=name)
    return value


def _metadata(body: dict) -> dict:
    value = body.get("metadata") or {}
    ok = isinstance(value, dict) and len(value) <= MAX_METADATA_KEYS
    ok = ok and all(
        isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in value.items()
    )
    if not ok:
        raise errors.InvalidRequest(
            "metadata must be an object of at most 16 keys (up to 64 characters) "
            "with text values (up to 512).",
            param="metadata",
        )
    return value


def _seed(body: dict) -> int | None:
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise errors.InvalidRequest(f"seed must be a whole number from 0 to {2**32 - 1}.", param="seed")
    return seed


def _refusal(exc: LaunchRefused, places: dict) -> errors.InvalidRequest:
    """The launch path's problems under the OpenAI field that set each (``hyperparameters.n_epochs``)."""
    named = {("base_model",): "model", ("dataset",): "training_file", ("validation",): "validation_file"}
    named |= places
    found = []
    for problem in exc.problems:
        # the longest start of the problem's place that an OpenAI field set (grpo.rewards.0.weight → grader)
        starts = (tuple(problem.loc[:n]) for n in range(len(problem.loc), 0, -1))
        param = next((named[s] for s in starts if s in named), None) or train_api_field(problem.loc)
        found.append((param, problem.message))
    message = "; ".join(f"{param}: {text}" if param else text for param, text in found)
    return errors.InvalidRequest(message, param=found[0][0], code="invalid_job")


def _grade_with(
    choice: hyperparameters.Choice, params: dict, files: list[tuple[str, Dataset | None]]
) -> None:
    """The grader as the job's ``grpo.rewards``, once every row of each file has the field it names."""
    mapped = graders.rewards_of(choice.grader)
    for param, dataset in files:
        if dataset is None:
            continue
        found = reinforcement_file.reference_problems(dataset, mapped.field, graders.AT)
        if found:
            raise errors.InvalidRequest(
                f"{dataset.name}: {'; '.join(found)}.", param=param, code="invalid_file"
            )
    params.setdefault("grpo", {})["rewards"] = mapped.rewards
    choice.places |= mapped.places


class FineTuningJobList(OpenAIView):
    def get(self, request: Request) -> Response:
        jobs = Job.objects.filter(team=self.team, kind=Job.Kind.TRAIN).select_related(
            "team", "base_model", "openai"
        )
        after = after_of(request, lambda raw: ids.parse("job", raw))
        return Response(page(request, jobs, job_objects.job_object, after_pk=after))

    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        model = lookup.base_model(self.team, _text(body, "model", required=True))
        dataset = self.team_file(body, "training_file", required=True)
        validation = self.team_file(body, "validation_file")
        if body.get("integrations"):
            raise errors.InvalidRequest(
                "integrations are not supported: Hone charts every metric on the job's page.",
                param="integrations",
            )
        suffix = _text(body, "suffix", limit=MAX_SUFFIX) or ""
        metadata, seed = _metadata(body), _seed(body)
        choice = hyperparameters.method_of(body)
        objective = hyperparameters.OBJECTIVES[choice.type]
        method, params = hyperparameters.preset_params(model, dataset, objective)
        params = hyperparameters.apply(choice, params, seed)
        if choice.type == "reinforcement":
            _grade_with(choice, params, [("training_file", dataset), ("validation_file", validation)])
        launch_request = training(
            team=self.team, user=request.user, name=suffix, base_model=model, dataset=dataset,
            params=params, method=method, objective=objective,
        )  # fmt: skip
        if validation is not None:  # evaluated on instead of a held-out share of the training file
            launch_request = replace(
                launch_request, datasets=(*launch_request.datasets, DatasetInput("validation", validation))
            )
        try:
            with transaction.atomic():  # the job and its OpenAI record together, dispatched on commit
                job = launch(launch_request)
                OpenAIFineTune.objects.create(
                    job=job,
                    suffix=suffix,
                    metadata=metadata,
                    method=choice.type,
                    hyperparameters=choice.given,
                    grader=choice.grader if choice.type == "reinforcement" else {},
                )
        except LaunchRefused as exc:
            raise _refusal(exc, choice.places) from None
        return Response(job_objects.job_object(job))

    def team_file(self, body: dict, name: str, *, required: bool = False) -> Dataset | None:
        given = _text(body, name, required=required)
        if given is None:
            return None
        return self.found(
            Dataset.objects.filter(team=self.team), ids.parse("file", given), "file", given, param=name
        )


class TeamJob(OpenAIView):
    def job(self, job_id: str) -> Job:
        jobs = Job.objects.filter(team=self.team, kind=Job.Kind.TRAIN).select_related("team", "base_model")
        return self.found(jobs, ids.parse("job", job_id), "job", job_id)


class FineTuningJobDetail(TeamJob):
    def get(self, request: Request, job_id: str) -> Response:
        return Response(job_objects.job_object(self.job(job_id)))


class FineTuningJobCancel(TeamJob):
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job(job_id)
        if not services.cancel(job):
            job.refresh_from_db()
            if job.status != Job.Status.CANCELLED:
                raise errors.InvalidRequest(
                    f"{job_id} has already {job.status}; there is nothing to cancel.", code="job_finished"
                )
        job.refresh_from_db()
        return Response(job_objects.job_object(job))


class FineTuningJobEvents(TeamJob):
    def get(self, request: Request, job_id: str) -> Response:
        job = self.job(job_id)
        events = Event.objects.filter(attempt__job=job)
        after = after_of(request, lambda raw: ids.parse("event", raw))
        return Response(page(request, events, job_objects.event_object, after_pk=after))


class FineTuningJobCheckpoints(TeamJob):
    def get(self, request: Request, job_id: str) -> Response:
        job = self.job(job_id)
        checkpoints = Event.objects.filter(attempt__job=job, kind="checkpoint")
        after = after_of(request, lambda raw: ids.parse("checkpoint", raw))
        render = job_objects.checkpoint_renderer(job)
        return Response(page(request, checkpoints, render, after_pk=after, default=10))
