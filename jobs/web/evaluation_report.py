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
from jobs.gates import status_of
from jobs.models import Artifact, Job
from jobs.retention import change as _change
from jobs.retention import retention_report

__all__ = ["evaluation_summary", "gate_report", "harness_table", "judge_report", "retention_report"]

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
    """A training or merge job's promotion gate (jobs/gates.status_of)."""
    return status_of(job.kind, job.params, job.gate_result)


def evaluation_summary(job: Job, series: dict[str, list[tuple[int, float]]]) -> dict:
    """What the API returns: the forgetting report (training jobs), the harness table and the judge's
    verdicts (evaluate jobs)."""
    found = retention_report(job, series)
    retention = None if found is None else {k: v for k, v in found.items() if k != "passages"}
    return {"job": job.pk, "kind": job.kind, "retention": retention, "harness": harness_table(job, series),
            "gate": gate_report(job), "judge": judge_report(job)}
