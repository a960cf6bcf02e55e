"""How long a training run will take, as the pages say it: the trainer's formula
(``trainers.estimate.training_time``), calibrated by how long this compute profile's recent runs
really took against what the same formula said for them, and shown as a range.

A profile with no finished run yet gets the formula's own, wider range. The ratio of a past run is
its first (and only) attempt's wall-clock time over the estimate recomputed from its stored
parameters, its dataset's size and the sampled token lengths (cached, ``data_preview``), so the
calibration needs nothing stored at launch and follows the machine as it is now.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db.models import Q

from jobs.data import preview
from jobs.guided import presets, sizing
from jobs.models import Attempt, ComputeProfile, Job
from trainers import estimate
from trainers.estimate import TimeEstimate
from trainers.spec import TrainingParams

CALIBRATION_RUNS = 5  # the newest finished runs per profile that the ratio is measured on


def measured_ratios(profile: ComputeProfile | None) -> list[float]:
    """Measured ÷ estimated seconds for the newest training runs on ``profile`` that finished in one
    attempt (a resumed run's time says little). Jobs without a profile ran on the default one."""
    if profile is None:
        return []
    on_profile = Q(job__profile=profile)
    if profile.name == settings.HONE_DEFAULT_PROFILE:
        on_profile |= Q(job__profile__isnull=True)
    attempts = (
        Attempt.objects.filter(on_profile, number=1, status="succeeded", job__kind=Job.Kind.TRAIN)
        .filter(job__status=Job.Status.SUCCEEDED, job__attempt_count=1)
        .exclude(started_at=None)
        .exclude(finished_at=None)
        .select_related("job", "job__base_model", "job__dataset")
        .order_by("-finished_at")[:CALIBRATION_RUNS]
    )
    ratios = []
    for attempt in attempts:
        predicted = estimated_seconds(attempt.job, profile)
        took = (attempt.finished_at - attempt.started_at).total_seconds()
        if predicted and took > 0:
            ratios.append(took / predicted)
    return ratios


def estimated_seconds(job: Job, profile: ComputeProfile) -> float | None:
    """What the formula says for a training job as it was run; None when it cannot say."""
    model, dataset = job.base_model, job.dataset
    if model is None or dataset is None or not isinstance(job.params, dict):
        return None
    try:
        lengths = preview.token_lengths(dataset, model)
        training = TrainingParams(**(job.params.get("training") or {})).model_dump(mode="json")
    except (preview.PreviewUnavailable, ValueError, TypeError):
        return None
    params = {**job.params, "objective": job.objective, "training": training}  # the objective: a column
    mean_tokens = sum(lengths) / len(lengths) if lengths else training["max_seq_length"] / 2
    plan = presets.plan(
        job.method,
        params,
        facts=sizing.model_facts(model),
        rows=dataset.row_count,
        mean_tokens=mean_tokens,
        profile=profile,
    )
    return plan.seconds


def of_plan(plan: presets.Plan, ratios: list[float]) -> TimeEstimate | None:
    """The plan's time as a range, calibrated by ``ratios`` (``measured_ratios``)."""
    if plan.seconds is None:
        return None
    low, high = estimate.UNCALIBRATED_RANGE
    time = TimeEstimate(plan.steps, 0, plan.seconds, low=plan.seconds * low, high=plan.seconds * high)
    return estimate.calibrated(time, ratios)


def range_text(time: TimeEstimate | None) -> str:
    """'40–90 s', '2–4 min', '1.5–3 h': the range a run should end within, in the unit of its upper end."""
    if time is None:
        return ""
    low, high = max(time.low, 1.0), max(time.high, time.low, 1.0)
    for unit, seconds, below in (("s", 1, 90), ("min", 60, 90 * 60), ("h", 3600, math.inf)):
        if high < below:
            a, b = _rounded(low / seconds, down=True), _rounded(high / seconds, down=False)
            return f"{a} {unit}" if a == b else f"{a}–{b} {unit}"
    return ""


def _rounded(value: float, *, down: bool) -> str:
    """Whole numbers from 10 on; one decimal below (1.5 h), never rounding the range narrower."""
    step = 1.0 if value >= 10 else 0.5
    rounded = (math.floor if down else math.ceil)(value / step) * step
    rounded = max(rounded, step)
    return f"{rounded:g}"
