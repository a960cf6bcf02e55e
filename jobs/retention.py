"""The forgetting report of a training job, from its recorded series: general-text perplexity before and
after (``retention/perplexity``, trainers/forgetting.py) beside the task metric, warned past the team's
limit (``Team.retention_warn_percent``); and the team's multiple-choice retention task's accuracy
(``retention/choice_accuracy``), warned on a drop of more points than the same limit. The job page,
the API (jobs/web/evaluation_report.py) and the model card (jobs/assets/card_sections.py) show it."""

from __future__ import annotations

from jobs.models import Job
from trainers.forgetting import CHOICE_METRIC, RETENTION_TEXTS, SPLIT, assess

RETENTION_SERIES = f"{SPLIT}/perplexity"
CHOICE_SERIES = f"{SPLIT}/{CHOICE_METRIC}"
TASK_SERIES = ("eval/loss", "eval/accuracy")  # the task metric it is read against, the first there is


def retention_report(job: Job, series: dict[str, list[tuple[int, float]]]) -> dict | None:
    """Before, after and the change of both; None until the trainer has measured both ends."""
    points = series.get(RETENTION_SERIES) or []
    if job.kind != Job.Kind.TRAIN or len(points) < 2 or None in (points[0][1], points[-1][1]):
        return None
    report = assess(points[0][1], points[-1][1], max_increase_percent=job.team.retention_warn_percent)
    task = next((name for name in TASK_SERIES if len(series.get(name) or []) >= 2), None)
    task_row = None
    if task is not None:
        first, last = series[task][0][1], series[task][-1][1]
        task_row = {"name": task, "before": first, "after": last, "change": change(first, last)}
    return {
        "before": report.before,
        "after": report.after,
        "increase_percent": report.increase_percent,
        "threshold_percent": report.threshold_percent,
        "warned": report.warned,
        "passages": len(RETENTION_TEXTS),
        "task": task_row,
        "choice": choice_row(series, report.threshold_percent),
    }


def choice_row(series: dict[str, list[tuple[int, float]]], threshold_points: float) -> dict | None:
    """The multiple-choice task's accuracy before and after, and whether it fell past the limit (points)."""
    points = series.get(CHOICE_SERIES) or []
    if len(points) < 2 or None in (points[0][1], points[-1][1]):
        return None
    before, after = points[0][1], points[-1][1]
    drop = (before - after) * 100.0
    return {"before": before, "after": after, "drop_points": drop, "threshold_points": threshold_points,
            "warned": drop > threshold_points}


def change(first: float | None, last: float | None) -> float | None:
    return None if first is None or last is None else last - first
