"""Datasets: upload (multipart, streamed, size-limited, every row checked), list, get, mark golden,
delete."""

from __future__ import annotations

from django.db.models import ProtectedError
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from api.idempotency import idempotent
from api.problems import Conflict, DatasetRejected, PayloadTooLarge
from api.serializers.datasets import (
    DatasetChangeSerializer,
    DatasetDetailSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
)
from api.views.params import IDEMPOTENCY_KEY, created, job_numbers
from jobs.data import datasets
from jobs.models import Dataset


def _refusal(exc: datasets.DatasetRejected) -> DatasetRejected:
    report = exc.report.to_dict() if exc.report is not None else None
    rows = report["errors"] if report else []
    errors = [{"field": "file", "message": row["text"], "code": "invalid_row"} for row in rows]
    errors = errors or [{"field": "file", "message": str(exc), "code": "invalid"}]
    return DatasetRejected(str(exc), errors=errors, report=report)


class DatasetList(ApiView):
    serializer_class = DatasetSerializer
    extra_problems = {"POST": [422]}

    parser_classes = [MultiPartParser]

    # The same early refusal and upload handler as the browser's form (jobs.data.datasets).
    def initialize_request(self, request, *args, **kwargs):
        datasets.limit_upload(request)  # a session's CSRF check reads the body during authentication
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authenticated and allowed before anything is read
        if request.method == "POST":
            try:
                datasets.refuse_early(request)
            except datasets.UploadTooLarge as exc:
                raise PayloadTooLarge(str(exc)) from None

    @extend_schema(responses=DatasetSerializer(many=True), summary="List the team's datasets")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(Dataset.objects.filter(team=self.team).select_related("created_by"))
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetDetailSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Upload a dataset",
        description="Every row is checked before anything is stored; a refused file is a 422 whose "
        "`errors` name the line and field of each problem and whose `report` holds the full check.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        upload = DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        try:
            dataset = datasets.create_dataset(
                team=self.team,
                user=request.user,
                name=upload.validated_data.get("name", ""),
                upload=upload.validated_data["file"],
            )
        except datasets.DatasetRejected as exc:
            raise _refusal(exc) from None
        return created(
            DatasetDetailSerializer(dataset).data, reverse("api:dataset-detail", args=[dataset.pk])
        )


class DatasetDetail(ApiView):
    serializer_class = DatasetDetailSerializer
    extra_problems = {"DELETE": [409]}

    def dataset(self, dataset_id: int) -> Dataset:
        return self.get_for_team(Dataset.objects.filter(team=self.team), dataset_id, "dataset")

    @extend_schema(summary="A dataset with its validation report")
    def get(self, request: Request, dataset_id: int) -> Response:
        return Response(DatasetDetailSerializer(self.dataset(dataset_id)).data)

    @extend_schema(request=DatasetChangeSerializer, summary="Mark a dataset golden, or not")
    def patch(self, request: Request, dataset_id: int) -> Response:
        dataset = self.dataset(dataset_id)
        change = DatasetChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        Dataset.objects.filter(pk=dataset.pk).update(golden=change.validated_data["golden"])
        dataset.refresh_from_db()
        return Response(DatasetDetailSerializer(dataset).data)

    @extend_schema(summary="Delete a dataset no job uses")
    def delete(self, request: Request, dataset_id: int) -> Response:
        dataset = self.dataset(dataset_id)
        try:
            datasets.delete_dataset(dataset)
        except ProtectedError as exc:
            raise Conflict(
                f"“{dataset.name}” is used by job {job_numbers(exc.protected_objects)}; datasets that jobs "
                "used are kept so those jobs can be traced and run again."
            ) from None
        return Response(status=204)
