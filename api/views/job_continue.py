"""POST /api/v1/jobs/{id}/continue: train on from a succeeded job's result, as a new job."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.idempotency import idempotent
from api.problems import Conflict
from api.serializers.jobs import JobDetailSerializer
from api.views.jobs import JobScoped
from api.views.params import IDEMPOTENCY_KEY, created
from jobs.launch.continuation import ContinueRefused, can_continue, continue_training, start_from


class JobContinueSerializer(serializers.Serializer):
    epochs = serializers.FloatField(
        required=False, min_value=0.0, max_value=100.0,
        help_text="More passes over the data, from where the job ended; default: as many as it ran.",
    )  # fmt: skip
    dataset = serializers.IntegerField(
        min_value=1, required=False, help_text="Another dataset of the same task; default: the job's own."
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate_epochs(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError("must be more than 0")
        return value


class JobContinue(JobScoped):
    serializer_class = JobDetailSerializer
    extra_problems = {"POST": [409, 422]}

    @extend_schema(
        request=JobContinueSerializer,
        responses={201: JobDetailSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Continue training a succeeded job, as a new job that starts from its result",
        description="The new job's inputs name the first job's adapter (or trained model), so its "
        "lineage points back; its parameters are the first job's with `epochs` replaced.",
    )
    @idempotent
    def post(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        if not can_continue(job) or start_from(job) is None:
            raise Conflict(
                f"Job #{job.pk} ({job.kind}, {job.status}) has no trained result to continue from."
            )
        given = JobContinueSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        dataset = None
        if "dataset" in data:
            dataset = self.team.datasets.filter(pk=data["dataset"]).first()
            if dataset is None:
                raise serializers.ValidationError(
                    {"dataset": [f"There is no dataset #{data['dataset']} in {self.team.name}."]}
                )
        try:
            new = continue_training(
                job, user=request.user, epochs=data.get("epochs"), dataset=dataset, name=data.get("name", "")
            )
        except ContinueRefused as exc:
            field, _, message = str(exc).partition(": ")
            raise serializers.ValidationError(
                {field if message else "non_field_errors": [str(exc)]}
            ) from None
        return created(self.detail(new), reverse("api:job-detail", args=[new.pk]))
