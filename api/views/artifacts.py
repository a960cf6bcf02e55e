"""A job's artifacts, and downloading them (Range requests supported)."""

from __future__ import annotations

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api import problems
from api.serializers.job_data import ArtifactSerializer
from api.views.jobs import JobScoped
from jobs.models import Artifact
from jobs.web import downloads


class ArtifactScoped(JobScoped):
    serializer_class = ArtifactSerializer

    def artifact(self, job_id: int, artifact_id: int) -> Artifact:
        job = self.job(job_id)
        return self.get_for_team(job.artifacts.select_related("attempt", "job"), artifact_id, "artifact")


class ArtifactList(ArtifactScoped):
    pagination_class = None

    @extend_schema(responses=ArtifactSerializer(many=True), summary="A job's artifacts")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        return Response(ArtifactSerializer(job.artifacts.select_related("attempt"), many=True).data)


class ArtifactDetail(ArtifactScoped):
    @extend_schema(summary="One artifact")
    def get(self, request: Request, job_id: int, artifact_id: int) -> Response:
        return Response(ArtifactSerializer(self.artifact(job_id, artifact_id)).data)


BINARY = OpenApiResponse(OpenApiTypes.BINARY, description="The file, or a zip of a directory.")
PART = OpenApiResponse(OpenApiTypes.BINARY, description="The requested byte range (see Content-Range).")


class ArtifactDownload(ArtifactScoped):
    extra_problems = {"GET": [416]}

    def perform_content_negotiation(self, request, force=False):
        # The body is a file whatever the client accepts; errors are still problem+json.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        responses={
            (200, "application/octet-stream"): BINARY,
            (200, "application/zip"): BINARY,
            (206, "application/octet-stream"): PART,
            (206, "application/zip"): PART,
        },
        summary="Download an artifact: a file, or a directory as a zip; supports Range",
    )
    def get(self, request: Request, job_id: int, artifact_id: int) -> HttpResponseBase:
        artifact = self.artifact(job_id, artifact_id)
        try:
            return downloads.serve(request, artifact)
        except downloads.Unsatisfiable as exc:
            body = problems.body(416, f"{exc}; ask for bytes within 0-{max(exc.size - 1, 0)}.")
            return Response(
                body,
                status=416,
                headers={"Content-Range": f"bytes */{exc.size}"},
                content_type=problems.CONTENT_TYPE,
            )
