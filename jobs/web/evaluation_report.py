"""Evaluation results as tables, for the job page and ``GET /api/v1/jobs/{id}/evaluation``.

The forgetting report of a training job: general-text perplexity before and after training (the
trainer's ``retention/perplexity`` series, trainers/forgetting.py) beside the task metric, and a
warning when it rose past the team's threshold (``Team.retention_warn_percent``); where the team chose
one, its multiple-choice task's accuracy before and after (``retention/choice_accuracy``), warned on a
drop of more points than the same threshold. The harness table
of an evaluate job: per task and metric, base (step 0) and candidate (step 1). A training job's
promotion gate (jobs/gates.py): its rules, passed or failed with the numbers."""

from __future__ import annotations

import json

from jobs.data import storage
from jobs.gates import GATE, GATED_KINDS
from jobs.models import Artifact, Job
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
        task_row = {"name": task, "before": first, "after": last, "change": _change(first, last)}
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


def _change(first: float | None, last: float | None) -> float | None:
    return None if first is None or last is None else last - first


def harness_table(job: Job, series: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """``[{task, metric, base, candidate, change}]`` from an evaluate job's ``eval/<task>.<metric>``."""
    if job.kind != Job.Kind.EVALUATE:
        return []
    rows = []
    for name in sorted(series):
        split, _, metric_name = name.partition("/")
        task, dot, metric = metric_name.rpartition(".")
        if split != "eval" or not dot:
            continue
        values = dict(series[name])
        base, candidate = values.get(0), values.get(1)
        rows.append({"task": task, "metric": metric, "base": base, "candidate": candidate,
                     "change": _change(base, candidate)})
    return rows


def judge_report(job: Job) -> dict | None:
    """An evaluate job's judge section of its report.json: verdicts per prompt, agreement with labels."""
    if job.kind != Job.Kind.EVALUATE:
        return None
    report = job.artifacts.filter(name="report", kind=Artifact.Kind.REPORT).first()
    if report is None:
        return None
    try:
        body = json.loads(storage.resolve(report.location).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = body.get("judge")
    return found if isinstance(found, dict) else None


def gate_report(job: Job) -> dict | None:
    """A training or merge job's promotion gate: its spec, and once the job succeeded, each rule's
    numbers (``base``: the base, or the model a merge is compared with; ``trained``: the job's model)."""
    spec = job.params.get(GATE) if job.kind in GATED_KINDS else None
    if spec is None:
        return None
    shown = {"spec": spec, "measured_model": "Merged" if job.kind == Job.Kind.MERGE else "Trained"}
    result = job.gate_result
    if result is None:
        return shown | {"status": "pending", "promoted": False, "rules": []}
    status = "passed" if result["passed"] else "failed"
    return shown | {"status": status, "promoted": result["passed"], "rules": result["rules"]}


def evaluation_summary(job: Job, series: dict[str, list[tuple[int, float]]]) -> dict:
    """What the API returns: the forgetting report (training jobs), the harness table and the judge's
    verdicts (evaluate jobs)."""
    found = retention_report(job, series)
    retention = None if found is None else {k: v for k, v in found.items() if k != "passages"}
    return {"job": job.pk, "kind": job.kind, "retention": retention, "harness": harness_table(job, series),
            "gate": gate_report(job), "judge": judge_report(job)}
