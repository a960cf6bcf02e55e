"""What a job produced while it ran: metric series, the log's tail, sample generations."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import metrics
from api.base import read_query
from api.serializers.job_data import LogsSerializer, MetricsSerializer, SamplesSerializer
from api.views.jobs import JobScoped
from jobs.models import Event

MAX_LOG_LINES = 1000


class MetricsQuery(serializers.Serializer):
    name = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Series to return (repeat for several, e.g. name=train/loss&name=eval/loss); default all.",
    )
    since = serializers.IntegerField(
        required=False,
        min_value=-1,
        max_value=2**31 - 1,
        help_text="Only points after this step: pass the last `last_step` you received.",
    )
    max_points = serializers.IntegerField(
        required=False,
        default=1000,
        min_value=2,
        max_value=10000,
        help_text=(
            "Per series; a longer series comes as at most this many points: per equal step range its "
            "lowest and highest value (spikes survive), the first and last point exact."
        ),
    )


class JobMetrics(JobScoped):
    serializer_class = MetricsSerializer

    @extend_schema(parameters=[MetricsQuery], summary="Metric series of a job (incremental with `since`)")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        wanted = read_query(MetricsQuery, request)
        return Response(metrics.series(job.pk, wanted.get("name"), wanted.get("since"), wanted["max_points"]))


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
