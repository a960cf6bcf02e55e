"""A model named by an OpenAI-style id, within what the team may see (else OpenAI's 404)."""

from __future__ import annotations

from api.models import OpenAIFineTune
from api.openai_compat import errors, ids
from jobs.models import ModelAsset, Team


def suffix_of(model: ModelAsset) -> str:
    if not model.produced_by_id:
        return ""
    return (
        OpenAIFineTune.objects.filter(job_id=model.produced_by_id).values_list("suffix", flat=True).first()
        or ""
    )


def show_id(model: ModelAsset) -> str:
    return ids.model_id(model, suffix=suffix_of(model))


def find(team: Team, value: str, *, param: str = "model") -> ModelAsset:
    """The model this API calls ``value``: an id it made (``tiny-llama-3``, ``ft:…:12``), or a model's
    exact name or hub id when just one model the team sees has it."""
    visible = ModelAsset.objects.visible_to(team).select_related("adapter_base", "team")
    pk = ids.model_pk(value)
    candidate = visible.filter(pk=pk).first() if pk is not None else None
    if candidate is not None and show_id(candidate) == value:
        return candidate
    named = list(visible.filter(name=value)[:2]) or list(visible.filter(hub_id=value)[:2])
    if len(named) == 1:
        return named[0]
    raise errors.NotFound(
        f"The model '{value}' does not exist or you do not have access to it; GET /openai/v1/models lists "
        "the models you can use.",
        param=param,
        code="model_not_found",
    )


def base_model(team: Team, value: str) -> ModelAsset:
    """A model to fine-tune. Whether it can be trained from is the launch path's check (``model``)."""
    return find(team, value)
