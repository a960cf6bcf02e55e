"""``models``: every model the team may use (built-in, registered, fine-tuned), retrieve, and delete
of a fine-tune (a job's output, which Hone keeps unless a later job used it)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError
from rest_framework.request import Request
from rest_framework.response import Response

from api.openai_compat import errors, ids, lookup
from api.openai_compat.base import OpenAIView
from api.views.params import job_numbers
from jobs.models import ModelAsset


def model_object(model: ModelAsset) -> dict:
    return {
        "id": lookup.show_id(model),
        "object": "model",
        "created": ids.timestamp(model.created_at),
        "owned_by": model.team.slug if model.team_id else "hone",
    }


class ModelList(OpenAIView):
    def get(self, request: Request) -> Response:
        models = (
            ModelAsset.objects.visible_to(self.team).select_related("team", "adapter_base").order_by("pk")
        )
        return Response({"object": "list", "data": [model_object(m) for m in models]})


class ModelDetail(OpenAIView):
    def get(self, request: Request, model: str) -> Response:
        return Response(model_object(lookup.find(self.team, model)))

    def delete(self, request: Request, model: str) -> Response:
        found = lookup.find(self.team, model)
        if found.source != ModelAsset.Source.JOB or found.team_id != self.team.pk:
            raise errors.Forbidden(
                f"{model} is not a fine-tuned model of your team; only fine-tunes can be deleted here.",
                param="model",
                code="not_a_fine_tune",
            )
        try:
            with transaction.atomic():
                found.delete()
        except ProtectedError as exc:
            raise errors.InvalidRequest(
                f"{model} is an input of job {job_numbers(exc.protected_objects)}; it is kept so that "
                "job can be traced and run again.",
                param="model",
                code="model_in_use",
            ) from None
        return Response({"id": model, "object": "model", "deleted": True})
