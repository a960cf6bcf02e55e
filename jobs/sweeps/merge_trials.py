"""An evolved merge's trials: each is a merge job and the evaluate job that scores the merged model,
both ordinary jobs made through the one launch path.

The merge job is the sweep's child (its trial number, as a training trial's job); the evaluate job is
the merge job's child, under the same number, so a trial's jobs are found from the sweep alone. The
trial's value is the evaluate job's score of the merged model (its candidate, metric step 1) on the
sweep's evaluation data. The preset, when the sweep compares with it, is the merge as given (the
uniform mix where no weights were given), scored the same way.
"""

from __future__ import annotations

from jobs.launch import LaunchRequest, rerun_request
from jobs.launch.types import DatasetInput, ModelInput
from jobs.models import Job, MetricPoint, ModelAsset
from trainers.merge_space import apply_merge_point

CANDIDATE_STEP = 1  # an evaluate job reports the base at step 0, the candidate at step 1


def merge_request(sweep: Job, number: int | None, point: dict) -> LaunchRequest:
    """The merge a point of the space makes (``number`` None: the preset, the merge as given)."""
    inputs = rerun_request(sweep, user=sweep.created_by)
    merged = [m for m in inputs.models if m.role == "model"]
    weights, params = apply_merge_point(sweep.params.get("trial", {}), [m.weight for m in merged], point)
    models = tuple(m for m in inputs.models if m.role == "base") + tuple(
        ModelInput("model", m.model, weight) for m, weight in zip(merged, weights, strict=True)
    )
    label = f"trial {number}" if number is not None else "preset"
    return LaunchRequest(
        kind=Job.Kind.MERGE,
        team=sweep.team,
        user=sweep.created_by,
        name=f"{sweep.name} · {label}"[:200],
        method=str(params.get("method", "")),
        params=params,
        models=models,
        profile=sweep.profile,
        parent=sweep,
        trial_number=number,
    )


def evaluation_of(merge: Job) -> Job | None:
    """The evaluate job that scores ``merge``'s model, once launched."""
    return merge.trials.first()


def evaluation_request(sweep: Job, merge: Job) -> LaunchRequest | None:
    """The evaluate job of ``merge``'s model on the sweep's evaluation data, against the merge's base
    (or its first model); None when the merge registered no model."""
    merged = ModelAsset.objects.filter(produced_by=merge).order_by("pk").first()
    if merged is None:
        return None
    inputs = merge.inputs.select_related("model").order_by("position", "pk")
    base = next((i.model for i in inputs if i.role == "base"), None) or inputs.first().model
    return LaunchRequest(
        kind=Job.Kind.EVALUATE,
        team=sweep.team,
        user=sweep.created_by,
        name=f"{merge.name} · evaluation"[:200],
        params={"prompts": []},  # the trial is scored on the data; generations would only cost time
        models=(ModelInput("base", base), ModelInput("candidate", merged)),
        datasets=(DatasetInput("dataset", sweep.dataset),),
        profile=sweep.profile,
        parent=merge,
        trial_number=merge.trial_number,
    )


def score(evaluation: Job, metric: str) -> float | None:
    """The merged model's value of ``metric`` in a succeeded evaluation."""
    if evaluation.status != Job.Status.SUCCEEDED:
        return None
    point = MetricPoint.objects.filter(job=evaluation, name=metric, step=CANDIDATE_STEP).first()
    return point.value if point else None


def weights_of(merge: Job) -> dict[str, float | None]:
    """A merge job's weights by place (``models.0.weight``), as the sweep's points name them."""
    inputs = merge.inputs.filter(role="model").order_by("position", "pk")
    return {f"models.{i}.weight": row.weight for i, row in enumerate(inputs)}
