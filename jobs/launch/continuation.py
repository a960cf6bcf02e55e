"""Continue training a finished job: a NEW job that starts from what the first one trained.

The new job's lineage names the first job's output as an input: its adapter (role "model", and
the spec's ``init_adapter`` points the trainer at it), or for methods that train the model's own
weights, the trained model as the base. The first job keeps its history untouched.
"""

from __future__ import annotations

import copy

from jobs.assets import lineage
from jobs.launch import LaunchRefused, launch_training
from jobs.models import Dataset, Job, ModelAsset


class ContinueRefused(ValueError):
    """The job cannot be continued as asked; the message says why and what to do."""


def start_from(job: Job) -> ModelAsset | None:
    """The trained output to continue from: the adapter, else a full-precision trained model."""
    outputs = list(lineage.outputs_of(job).select_related("adapter_base"))
    for model in outputs:
        if model.format == ModelAsset.Format.ADAPTER and model.adapter_base_id:
            return model
    for model in outputs:
        if model.format == ModelAsset.Format.TRANSFORMERS and not model.quantization:
            return model
    return None


def can_continue(job: Job) -> bool:
    return job.kind == Job.Kind.TRAIN and job.status == Job.Status.SUCCEEDED


def continue_training(
    job: Job, *, user, epochs: float | None = None, dataset: Dataset | None = None, name: str = ""
) -> Job:
    """Queue a job that trains on from ``job``'s result, for ``epochs`` more passes (default: as many
    as the first), on ``dataset`` (default: the same one; another must hold the same task)."""
    if not can_continue(job):
        raise ContinueRefused(
            f"only succeeded training jobs can be continued; job #{job.pk} is a {job.kind} job "
            f"that is {job.status}"
        )
    start = start_from(job)  # the adapter (the spec's init_adapter), or a trained model as the base
    if start is None:
        raise ContinueRefused(f"job #{job.pk} registered no trained model to continue from")
    dataset = dataset or job.dataset
    if dataset.team_id != job.team_id:
        raise ContinueRefused(f"dataset: {dataset.name} belongs to another team")
    if job.dataset_id and dataset.task != job.dataset.task:
        raise ContinueRefused(
            f"dataset: {dataset.name} holds {dataset.task} rows but job #{job.pk} trained on "
            f"{job.dataset.task} rows; pick a dataset of the same task"
        )
    params = copy.deepcopy(job.params)
    if epochs is not None:
        params.setdefault("training", {})["epochs"] = epochs
    is_adapter = start.format == ModelAsset.Format.ADAPTER
    try:
        return launch_training(
            team=job.team,
            user=user,
            name=(name or f"{job.name} (continued)")[:200],
            base_model=start.adapter_base if is_adapter else start,
            dataset=dataset,
            params=params,
            method=job.method,
            objective=job.objective,
            start_from=start if is_adapter else None,
            profile=job.profile,
        )
    except LaunchRefused as exc:
        raise ContinueRefused(str(exc)) from None
