"""Lineage: what each job read, and the models its outputs became.

A trained adapter, a merged model or a quantized model is registered as a ModelAsset
(source "job") when its job succeeds, so it can be the input of the next job in the chain:
train → merge → quantize → evaluate.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db.models import Q, QuerySet

from jobs.assets.modelinfo import ModelDirError, safetensors_parameter_count
from jobs.data import datasets, storage
from jobs.models import Artifact, Dataset, Job, JobInput, ModelAsset

log = logging.getLogger(__name__)

# Artifact kinds that are models, and what they become.
MODEL_ARTIFACTS = {
    "adapter": ModelAsset.Format.ADAPTER,
    "model": ModelAsset.Format.TRANSFORMERS,
    "gguf": ModelAsset.Format.GGUF,
}


def record_inputs(
    job: Job,
    *,
    models: list[tuple[str, ModelAsset, float | None]] = (),
    datasets: list[tuple[str, Dataset]] = (),
) -> None:
    rows = [
        JobInput(job=job, role=role, model=model, weight=weight, position=i)
        for i, (role, model, weight) in enumerate(models)
    ]
    rows += [JobInput(job=job, role=r, dataset=data, position=i) for i, (r, data) in enumerate(datasets)]
    JobInput.objects.bulk_create(rows)


def register_outputs(job: Job) -> list[ModelAsset]:
    """Make each model artifact of a succeeded job a usable model of its team, and each dataset
    artifact (a curate job's rows) a dataset of its team.

    Called once, in the transaction that records the job's success."""
    register_datasets(job)
    assets = []
    for artifact in job.artifacts.filter(kind__in=MODEL_ARTIFACTS):
        path = str(storage.resolve(artifact.location))
        asset = ModelAsset.objects.filter(produced_by=job, path=path).first()
        if asset is None:
            asset = ModelAsset.objects.create(produced_by=job, path=path, **_asset_fields(job, artifact))
        assets.append(asset)
    return assets


def register_datasets(job: Job) -> list[Dataset]:
    """A job's rows as a new dataset, with its lineage: from which datasets, by which job, with which
    settings (a curate job's curated rows; a rejection_sampling job's verified answers, "kept").
    Registered once: a second call finds it."""
    made = []
    for artifact in job.artifacts.filter(kind=Artifact.Kind.DATASET):
        found = Dataset.objects.filter(produced_by=job).first()
        if found is None:
            sources = [
                {"id": row.dataset_id, "name": row.dataset.name, "role": row.role}
                for row in job.inputs.filter(dataset__isnull=False).select_related("dataset")
            ]
            try:
                found = datasets.register_file(
                    team=job.team, user=job.created_by, name=_dataset_name(job, artifact),
                    path=storage.resolve(artifact.location), produced_by=job,
                    lineage={"job": job.pk, "kind": job.kind, "from": sources, "settings": job.params},
                )
            except (OSError, datasets.DatasetRejected) as exc:
                # The rows stay downloadable as the artifact; a refusal must not wedge the reconciler.
                log.error("job %s: its curated rows were not registered as a dataset: %s", job.pk, exc)
                continue
        made.append(found)
    return made


def _dataset_name(job: Job, artifact: Artifact) -> str:
    what = "curated" if job.kind == Job.Kind.CURATE else f"{artifact.name} rows"
    return f"{job.name} · {what}"[:200]


def _asset_fields(job: Job, artifact: Artifact) -> dict:
    base = _base_of(job)
    fmt = MODEL_ARTIFACTS[artifact.kind]
    return {
        "team": job.team,
        "name": f"{job.name} · {artifact.name}"[:200],
        "source": ModelAsset.Source.JOB,
        "task": _output_task(job, base),
        "format": fmt,
        "adapter_base": (base.adapter_base or base) if base and fmt == ModelAsset.Format.ADAPTER else None,
        "quantization": str(job.params.get("method", "")) if job.kind == Job.Kind.QUANTIZE else "",
        "architecture": base.architecture if base else "",
        "parameter_count": _parameter_count(storage.resolve(artifact.location)),
        "description": f"Made by job #{job.pk} ({job.kind}).",
    }


def _output_task(job: Job, base: ModelAsset | None) -> str:
    """A classifier trained from a decoder is a classifier, whatever its base model was."""
    if job.kind == Job.Kind.TRAIN and job.objective == "classification":
        return ModelAsset.Task.CLASSIFICATION
    return base.task if base else ModelAsset.Task.CAUSAL_LM


def _parameter_count(path: Path) -> int | None:
    try:
        return safetensors_parameter_count(path)
    except ModelDirError:
        return None  # an unreadable count must not lose the model


def _base_of(job: Job) -> ModelAsset | None:
    if job.base_model_id:
        return job.base_model
    first = job.inputs.filter(model__isnull=False).select_related("model").first()
    return first.model if first else None


def outputs_of(job: Job) -> QuerySet[ModelAsset]:
    return ModelAsset.objects.filter(produced_by=job)


def jobs_using(asset: ModelAsset) -> QuerySet[Job]:
    return Job.objects.filter(Q(base_model=asset) | Q(inputs__model=asset)).distinct()
