"""Models: the catalogue a team can start from; register a hub id or a local directory."""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError, QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView, read_query
from api.idempotency import idempotent
from api.problems import Conflict
from api.serializers.models import ModelAssetSerializer, ModelRegisterSerializer
from api.views.params import IDEMPOTENCY_KEY, created, job_numbers
from jobs.models import ModelAsset

REGISTERED = (ModelAsset.Source.LOCAL, ModelAsset.Source.HUB)


class ModelFilter(serializers.Serializer):
    source = serializers.ChoiceField(choices=ModelAsset.Source.choices, required=False)
    task = serializers.ChoiceField(choices=ModelAsset.Task.choices, required=False)
    usable_as = serializers.ChoiceField(
        choices=["base"],
        required=False,
        help_text="base: only models a training job can start from (full-precision transformers "
        "models; no adapters, GGUF files or quantized models).",
    )


class ModelScoped(ApiView):
    serializer_class = ModelAssetSerializer

    def visible(self) -> QuerySet[ModelAsset]:
        """Built-in models, shared by every team, and the team's own."""
        return ModelAsset.objects.visible_to(self.team)


class ModelList(ModelScoped):
    pagination_class = None
    extra_problems = {"POST": [422]}

    @extend_schema(parameters=[ModelFilter], responses=ModelAssetSerializer(many=True), summary="List models")
    def get(self, request: Request) -> Response:
        query = read_query(ModelFilter, request)
        models = self.visible()
        if query.pop("usable_as", None) == "base":
            models = models.usable_as_base("classification")  # the task filter narrows it to LMs
        models = models.filter(**query)
        return Response(ModelAssetSerializer(models, many=True).data)

    @extend_schema(
        request=ModelRegisterSerializer,
        responses={201: ModelAssetSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Register a hub id or a model directory on the server",
        description="Nothing is downloaded: a hub id is checked for form (the trainer loads it); a "
        "directory must hold config.json and .safetensors weights, and is described from them.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = ModelRegisterSerializer(data=request.data, context={"team": self.team})
        serializer.is_valid(raise_exception=True)
        model = ModelAsset.objects.create(team=self.team, **serializer.validated_data)
        return created(ModelAssetSerializer(model).data, reverse("api:model-detail", args=[model.pk]))


class ModelDetail(ModelScoped):
    extra_problems = {"DELETE": [409]}

    @extend_schema(summary="One model")
    def get(self, request: Request, model_id: int) -> Response:
        return Response(ModelAssetSerializer(self.get_for_team(self.visible(), model_id, "model")).data)

    @extend_schema(summary="Remove a registered model that no job uses (its files are left alone)")
    def delete(self, request: Request, model_id: int) -> Response:
        model = self.get_for_team(self.visible(), model_id, "model")
        if model.source not in REGISTERED or model.team_id is None:
            raise exceptions.PermissionDenied(
                "Only models registered by hub id or path can be removed; built-in models belong to the "
                "operators, and job outputs are kept for lineage."
            )
        try:
            with transaction.atomic():
                model.delete()
        except ProtectedError as exc:
            raise Conflict(f"“{model.name}” is used by job {job_numbers(exc.protected_objects)}.") from None
        return Response(status=204)
