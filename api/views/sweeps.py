"""A sweep's trials and result: each trial with its training job's id, the best, the preset."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from api.idempotency import idempotent
from api.problems import Conflict
from api.serializers.sweeps import (
    RenamePresetSerializer,
    SavePresetSerializer,
    SweepResultSerializer,
    TeamPresetSerializer,
)
from api.views.jobs import JobScoped
from api.views.params import IDEMPOTENCY_KEY, created
from jobs.models import Job, TeamPreset
from jobs.sweeps import presets, results

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


class SaveBestAsPreset(JobScoped):
    serializer_class = TeamPresetSerializer
    extra_problems = {"POST": [409]}

    @extend_schema(
        request=SavePresetSerializer,
        responses={201: TeamPresetSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Save a sweep's best trial as a team preset",
        description="Its training job's method, objective and parameters, to start training jobs "
        "from (GET /api/v1/presets; the job form's ?preset=<id>). A 409 while no trial is complete, "
        "or when the team has a preset of that name.",
    )
    @idempotent
    def post(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        asked = SavePresetSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        try:
            preset = presets.save_best(job, user=request.user, name=asked.validated_data.get("name", ""))
        except presets.PresetRefused as exc:
            raise Conflict(str(exc)) from None
        return created(TeamPresetSerializer(preset).data, reverse("api:preset-list"))


class PresetDetail(ApiView):
    serializer_class = TeamPresetSerializer
    extra_problems = {"PATCH": [409]}

    def preset(self, preset_id: int) -> TeamPreset:
        return self.get_for_team(TeamPreset.objects.filter(team=self.team), preset_id, "preset")

    @extend_schema(summary="One of the team's saved presets")
    def get(self, request: Request, preset_id: int) -> Response:
        return Response(TeamPresetSerializer(self.preset(preset_id)).data)

    @extend_schema(
        request=RenamePresetSerializer,
        summary="Rename one of the team's presets",
        description="A 409 when the team has a preset of that name.",
    )
    def patch(self, request: Request, preset_id: int) -> Response:
        preset = self.preset(preset_id)
        asked = RenamePresetSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        try:
            presets.rename(preset, asked.validated_data["name"])
        except presets.PresetRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(TeamPresetSerializer(preset).data)

    @extend_schema(responses={204: None}, summary="Delete one of the team's presets")
    def delete(self, request: Request, preset_id: int) -> Response:
        self.preset(preset_id).delete()  # jobs started from it keep their own parameters
        return Response(status=204)


class PresetList(ApiView):
    serializer_class = TeamPresetSerializer
    pagination_class = None

    @extend_schema(responses=TeamPresetSerializer(many=True), summary="List the team's saved presets")
    def get(self, request: Request) -> Response:
        return Response(TeamPresetSerializer(TeamPreset.objects.filter(team=self.team), many=True).data)
