"""A sweep's trials and result: each trial with its training job's id, the best, the preset."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.sweeps import SweepResultSerializer
from api.views.jobs import JobScoped
from jobs.models import Job
from jobs.sweeps import results

NO_TRIALS = {
    "metric": None,
    "direction": None,
    "best": None,
    "preset": None,
    "gain_over_preset": None,
    "importance": {},
    "compute_seconds": 0.0,
    "trials": [],
}


class SweepTrials(JobScoped):
    serializer_class = SweepResultSerializer

    @extend_schema(
        summary="A sweep's trials (with their job ids), its best trial and the preset's result",
        description="Jobs of other kinds have no trials: an empty list.",
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        if job.kind != Job.Kind.SWEEP:
            return Response(NO_TRIALS)
        return Response(results.summary(job).as_json())
