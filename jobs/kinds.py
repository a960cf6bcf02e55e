"""Merge, quantize and evaluate jobs: how each is created from models and datasets, and the
spec fields each kind adds to the common ones (see ``services.build_spec``).

Every job is validated by building its first spec before it is queued, with the trainer's
own spec models, so a bad combination is refused with the field that is wrong.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from jobs import lineage, services, transitions
from jobs.models import Dataset, Job, JobInput, ModelAsset, Team
from trainers.spec import SpecError


class JobRejected(ValueError):
    """The job cannot run as asked; the message names the field and what to do."""


def create_job(
    kind: str,
    *,
    team: Team,
    user,
    name: str,
    params: dict,
    models: list[tuple[str, ModelAsset, float | None]],
    datasets: list[tuple[str, Dataset]] = (),
) -> Job:
    """Create and queue a merge, quantize or evaluate job; JobRejected if its spec is invalid."""
    for _role, model, _weight in models:
        if model.team_id not in (None, team.pk):
            raise JobRejected(f"model {model.pk} is not available to {team.name}")
    for _role, dataset in datasets:
        if dataset.team_id != team.pk:
            raise JobRejected(f"dataset {dataset.pk} is not available to {team.name}")
    with transaction.atomic():
        job = Job.objects.create(
            team=team,
            created_by=user,
            name=name,
            kind=kind,
            method=str(params.get("method", kind)),
            base_model=models[0][1] if models else None,
            params=params,
        )
        lineage.record_inputs(job, models=models, datasets=datasets)
        try:
            services.build_spec(job, 1, None)
        except SpecError as exc:
            transaction.set_rollback(True)
            raise JobRejected(str(exc).removeprefix("invalid job spec: ")) from None
        transitions.record(job.pk, Job.Status.QUEUED)
        services.enqueue_dispatch(job.pk)
    return job


def spec_fields(job: Job) -> dict:
    builders = {Job.Kind.QUANTIZE: _quantize, Job.Kind.EVALUATE: _evaluate, Job.Kind.MERGE: _merge}
    return builders[job.kind](job, _inputs(job))


def _inputs(job: Job) -> dict[str, list[JobInput]]:
    found: dict[str, list[JobInput]] = {}
    for row in job.inputs.select_related("model", "model__adapter_base", "dataset").order_by("position"):
        found.setdefault(row.role, []).append(row)
    return found


def _dataset(inputs: dict[str, list[JobInput]], role: str) -> dict | None:
    rows = inputs.get(role)
    return services.dataset_ref(rows[0].dataset) if rows else None


def _quantize(job: Job, inputs: dict[str, list[JobInput]]) -> dict:
    p = job.params
    fields = {
        "model": services.model_ref(inputs["base"][0].model),
        "method": p["method"],
        "outputs": p.get("outputs", ["torchao"]),
        "calibration": _dataset(inputs, "calibration"),
        "eval_texts": _dataset(inputs, "dataset"),
    }
    if p.get("params"):
        fields[p["method"]] = p["params"]
    return fields


def evaluated(model: ModelAsset) -> dict:
    """How the trainer reads a model asset: plain, an adapter on its base, or a GGUF file."""
    if model.format == ModelAsset.Format.ADAPTER:
        return {"model": services.model_ref(model.adapter_base), "adapter_path": model.path}
    if model.format == ModelAsset.Format.GGUF:
        path = Path(model.path)
        return {"model": {"name": model.name, "path": str(path.parent)}, "gguf_file": path.name}
    return {"model": services.model_ref(model)}


def _evaluate(job: Job, inputs: dict[str, list[JobInput]]) -> dict:
    return {
        "base": evaluated(inputs["base"][0].model),
        "candidate": evaluated(inputs["candidate"][0].model),
        "dataset": _dataset(inputs, "dataset"),
        **job.params,
    }


def _merge(job: Job, inputs: dict[str, list[JobInput]]) -> dict:
    p = job.params
    models = [
        {"name": row.model.name, "path": row.model.path, "weight": row.weight}
        for row in inputs.get("model", [])
    ]
    base = inputs.get("base")
    return {
        "method": p["method"],
        "models": models,
        "base_model": services.model_ref(base[0].model) if base else None,
        "params": p.get("params", {}),
        **{k: v for k, v in p.items() if k not in ("method", "params")},
    }
