"""OpenAPI parameters and helpers shared by several views."""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from jobs.models import Job

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    description="Makes retrying safe: the same key and body replays the first response "
    "(with `Idempotent-Replayed: true`); the same key with a different body is a 422.",
)


def created(data: dict, location: str) -> Response:
    return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})


def job_numbers(protecting: Iterable[object]) -> str:
    """'#3, #5': the jobs among the records that keep an object from being deleted."""
    found = {obj.pk if isinstance(obj, Job) else getattr(obj, "job_id", None) for obj in protecting}
    return ", ".join(f"#{pk}" for pk in sorted(pk for pk in found if pk is not None)) or "other records"
