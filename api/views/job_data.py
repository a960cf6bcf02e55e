"""What a job produced while it ran: metric series, the log's tail, sample generations."""

from __future__ import annotations

import math

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import read_query
from api.serializers.job_data import LogsSerializer, MetricsSerializer, SamplesSerializer
from api.views.jobs import JobScoped
from jobs.models import Event, MetricPoint

MAX_LOG_LINES = 1000


class MetricsQuery(serializers.Serializer):
    name = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Series to return (repeat for several, e.g. name=train/loss&name=eval/loss); default all.",
    )
    since = serializers.IntegerField(
        required=False, help_text="Only points after this step: pass the last `last_step` you received."
    )
    max_points = serializers.IntegerField(
        required=False, default=1000, min_value=2, max_value=10000, help_text="Per series; more are averaged."
    )


def downsample(points: list[tuple[int, float]], max_points: int) -> list[tuple[int, float]]:
    """At most ``max_points``: each is the mean of a run of consecutive points, at the run's last step.

    Runs are equal in size (±1), so the first and last steps are kept and the curve's shape
    survives; a loss curve's noise is smoothed rather than sampled at random."""
    if len(points) <= max_points:
        return points
    result = []
    for bucket in range(max_points):
        start = bucket * len(points) // max_points
        end = (bucket + 1) * len(points) // max_points
        run = points[start:end]
        result.append((run[-1][0], sum(value for _, value in run) / len(run)))
    return result


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # NaN and infinity have no JSON form


class JobMetrics(JobScoped):
    serializer_class = MetricsSerializer

    @extend_schema(parameters=[MetricsQuery], summary="Metric series of a job (incremental with `since`)")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        wanted = read_query(MetricsQuery, request)
        points = MetricPoint.objects.filter(job=job)
        names = list(points.order_by("name").values_list("name", flat=True).distinct())
        if wanted.get("name"):
            points = points.filter(name__in=wanted["name"])
        if "since" in wanted:
            points = points.filter(step__gt=wanted["since"])
        by_name: dict[str, list[tuple[int, float]]] = {}
        for name, step, value in points.order_by("name", "step").values_list("name", "step", "value"):
            by_name.setdefault(name, []).append((step, value))
        series = []
        for name in wanted.get("name") or names:
            found = by_name.get(name, [])
            kept = downsample(found, wanted["max_points"])
            series.append(
                {
                    "name": name,
                    "points": [{"step": step, "value": _finite(value)} for step, value in kept],
                    "count": len(found),
                    "last_step": found[-1][0] if found else None,
                    "downsampled": len(kept) < len(found),
                }
            )
        return Response({"job": job.pk, "names": names, "series": series})


class LogsQuery(serializers.Serializer):
    tail = serializers.IntegerField(required=False, default=100, min_value=1, max_value=MAX_LOG_LINES)
    attempt = serializers.IntegerField(required=False, min_value=1, help_text="Only this attempt's lines.")


class JobLogs(JobScoped):
    serializer_class = LogsSerializer

    @extend_schema(parameters=[LogsQuery], summary="The last lines of a job's log")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        wanted = read_query(LogsQuery, request)
        events = Event.objects.filter(attempt__job=job, kind="log").select_related("attempt")
        if "attempt" in wanted:
            events = events.filter(attempt__number=wanted["attempt"])
        newest = events.order_by("-attempt__number", "-seq")[: wanted["tail"]]
        lines = [
            {
                "attempt": e.attempt.number,
                "seq": e.seq,
                "time": e.time,
                "level": str(e.payload.get("level", "info")),
                "message": str(e.payload.get("message", "")),
            }
            for e in reversed(newest)
        ]
        return Response(LogsSerializer({"job": job.pk, "lines": lines}).data)


class JobSamples(JobScoped):
    serializer_class = SamplesSerializer

    @extend_schema(summary="Sample generations from the latest evaluation that made any")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        events = Event.objects.filter(attempt__job=job, kind="sample").select_related("attempt")
        recent = list(events.order_by("-attempt__number", "-seq")[:50])
        latest = recent[0] if recent else None
        same_step = (
            [
                e
                for e in recent
                if e.attempt_id == latest.attempt_id and e.payload.get("step") == latest.payload.get("step")
            ]
            if latest
            else []
        )
        samples = [
            {
                "attempt": e.attempt.number,
                "step": e.payload.get("step") if isinstance(e.payload.get("step"), int) else None,
                "prompt": str(e.payload.get("prompt", "")),
                "output": str(e.payload.get("output", "")),
                "expected": e.payload.get("expected") if isinstance(e.payload.get("expected"), str) else None,
            }
            for e in reversed(same_step)
        ]
        return Response({"job": job.pk, "samples": samples})
