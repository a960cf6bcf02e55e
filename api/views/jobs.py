"""Jobs: list (filters, cursor pagination), create, detail, cancel, retry, clone."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.module_loading import import_string
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView, read_query
from api.idempotency import idempotent
from api.problems import Conflict
from api.serializers.jobs import (
    ATTEMPT_COLUMNS,
    DETAIL_COLUMNS,
    SUMMARY_COLUMNS,
    JobCloneSerializer,
    JobCreateSerializer,
    JobDetailSerializer,
    JobSerializer,
    detail,
    named_profiles,
    summary,
)
from api.views.params import IDEMPOTENCY_KEY, created
from jobs.launch import rerun
from jobs.launch.kinds import KINDS
from jobs.lifecycle import services
from jobs.models import Attempt, Job

STATUS_GROUPS = {"active": Job.ACTIVE, "finished": Job.FINISHED}


class JobFilterSerializer(serializers.Serializer):
    status = serializers.CharField(
        required=False,
        help_text="Comma-separated statuses (queued, starting, running, succeeded, failed, cancelled), "
        "or 'active' / 'finished'.",
    )
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False)
    dataset = serializers.IntegerField(
        required=False, min_value=1, help_text="Jobs that train on this dataset."
    )
    model = serializers.IntegerField(
        required=False, min_value=1, help_text="Jobs that start from this model."
    )
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")

    def validate_status(self, value: str) -> list[str]:
        wanted: list[str] = []
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name in STATUS_GROUPS:
                wanted += STATUS_GROUPS[name]
            elif name in Job.Status.values:
                wanted.append(name)
            else:
                known = ", ".join([*Job.Status.values, *STATUS_GROUPS])
                raise serializers.ValidationError(f"unknown status {name!r}; use {known}")
        return wanted


def filter_jobs(jobs: QuerySet[Job], given: dict) -> QuerySet[Job]:
    if given.get("status"):
        jobs = jobs.filter(status__in=given["status"])
    if "kind" in given:
        jobs = jobs.filter(kind=given["kind"])
    if "dataset" in given:
        jobs = jobs.filter(dataset_id=given["dataset"])
    if "model" in given:
        jobs = jobs.filter(base_model_id=given["model"])
    if "created_after" in given:
        jobs = jobs.filter(created_at__gte=given["created_after"])
    if "created_before" in given:
        jobs = jobs.filter(created_at__lt=given["created_before"])
    return jobs


class JobScoped(ApiView):
    """Views of one job of the acting team."""

    def team_jobs(self) -> QuerySet[Job]:
        related = Job.objects.filter(team=self.team).select_related(
            "base_model", "dataset", "profile", "created_by"
        )
        return related.defer("spec", "dataset__report")  # large JSON the API never shows here

    def job(self, job_id: int) -> Job:
        return self.get_for_team(self.team_jobs(), job_id, "job")

    def detail(self, job: Job) -> dict:
        job = self.team_jobs().prefetch_related("attempts").get(pk=job.pk)
        return JobDetailSerializer(job).data


def _launch_training(view: JobScoped, data: object, user) -> Job:
    serializer = JobCreateSerializer(data=data, context={"team": view.team})
    serializer.is_valid(raise_exception=True)
    return serializer.launch(user)


# Every kind, by ``kind``: its body's serializer, named by the kind's traits.
KIND_SERIALIZERS = {kind: import_string(traits.api_serializer) for kind, traits in KINDS.items()}

JOB_CREATE = PolymorphicProxySerializer(
    component_name="NewJob",
    serializers=list(KIND_SERIALIZERS.values()),
    resource_type_field_name=None,
)


def _create(view: JobScoped, request: Request) -> Job:
    """A job of the body's ``kind`` (train when it has none)."""
    data = request.data
    kind = data.get("kind", Job.Kind.TRAIN) if isinstance(data, dict) else Job.Kind.TRAIN
    if not isinstance(kind, str) or kind not in Job.Kind.values:
        known = ", ".join(Job.Kind.values)
        raise serializers.ValidationError({"kind": [f"unknown job kind {kind!r}; use one of {known}"]})
    serializer = KIND_SERIALIZERS[kind](data=data, context={"team": view.team})
    serializer.is_valid(raise_exception=True)
    return serializer.launch(request.user)


class JobList(JobScoped):
    serializer_class = JobSerializer
    extra_problems = {"POST": [422]}

    @extend_schema(parameters=[JobFilterSerializer], responses=JobSerializer(many=True), summary="List jobs")
    def get(self, request: Request) -> Response:
        rows = Job.objects.filter(team=self.team).values(*SUMMARY_COLUMNS)
        page = self.paginate_queryset(filter_jobs(rows, read_query(JobFilterSerializer, request)))
        return self.get_paginated_response([summary(row) for row in named_profiles(list(page))])

    @extend_schema(
        request=JOB_CREATE,
        responses={201: JobDetailSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Create a train, merge, quantize, evaluate, curate or sweep job",
        description="`kind` picks the body (train when omitted). Each method's `params` are described, "
        "with a JSON schema, by GET /api/v1/methods/{name}; every refusal names its field.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        job = _create(self, request)
        return created(self.detail(job), reverse("api:job-detail", args=[job.pk]))


class JobDetail(JobScoped):
    serializer_class = JobDetailSerializer

    @extend_schema(summary="Get a job, with its attempts")
    def get(self, request: Request, job_id: int) -> Response:
        row = Job.objects.filter(team=self.team, pk=job_id).values(*DETAIL_COLUMNS).first()
        if row is None:
            raise exceptions.NotFound(f"There is no job #{job_id} in {self.team.name}.")
        attempts = Attempt.objects.filter(job_id=job_id).order_by("number").values(*ATTEMPT_COLUMNS)
        return Response(detail(named_profiles([row])[0], list(attempts)))


class JobCancel(JobScoped):
    serializer_class = JobDetailSerializer
    extra_problems = {"POST": [409]}

    @extend_schema(
        request=None, responses={200: JobDetailSerializer}, summary="Cancel a queued or running job"
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        if not services.cancel(job):
            job.refresh_from_db()
            if job.status != Job.Status.CANCELLED:
                raise Conflict(
                    f"Job #{job.pk} has already finished ({job.status}); there is nothing to cancel."
                )
        return Response(self.detail(job))


class JobRetry(JobScoped):
    serializer_class = JobDetailSerializer
    extra_problems = {"POST": [409, 422]}

    @extend_schema(
        request=None,
        responses={201: JobDetailSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Run a failed or cancelled job again, as a new job with the same inputs",
    )
    @idempotent
    def post(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        try:
            new = rerun.retry(job, user=request.user)
        except rerun.RetryRefused as exc:
            raise Conflict(str(exc)) from None
        return created(self.detail(new), reverse("api:job-detail", args=[new.pk]))


class JobClone(JobScoped):
    serializer_class = JobDetailSerializer
    extra_problems = {"POST": [409, 422]}

    @extend_schema(
        request=JobCloneSerializer,
        responses={201: JobDetailSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Create a new job from this one's inputs, changing any of them",
    )
    @idempotent
    def post(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        if job.kind != Job.Kind.TRAIN:
            raise Conflict(f"Job #{job.pk} is a {job.kind} job; only training jobs can be cloned for now.")
        changes = JobCloneSerializer(data=request.data)
        changes.is_valid(raise_exception=True)
        new = _launch_training(self, changes.merged_with(job), request.user)
        return created(self.detail(new), reverse("api:job-detail", args=[new.pk]))
