"""A sweep's trials and result: each trial with its training job's id, the best, the preset."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.problems import Conflict
from api.serializers.sweeps import SweepResultSerializer
from api.views.jobs import JobScoped
from jobs.models import Job
from jobs.sweeps import results


class SweepTrials(JobScoped):
    serializer_class = SweepResultSerializer
    extra_problems = {"GET": [409]}

    @extend_schema(summary="A sweep's trials (with their job ids), its best trial and the preset's result")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        if job.kind != Job.Kind.SWEEP:
            raise Conflict(f"Job #{job.pk} is a {job.kind} job; only sweeps have trials.")
        return Response(results.summary(job).as_json())
