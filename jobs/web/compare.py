"""Comparing runs: overlaid curves per metric, a diff of their settings, their final metrics.

A fixed number of queries for any number of jobs and points: the jobs, their inputs, and the
downsampled metric series (``metric_series``), whose end points are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet
from django.utils.safestring import SafeString

from jobs.gates import status_of
from jobs.models import Job, JobInput, Team
from jobs.retention import retention_report
from jobs.web import metric_series
from jobs.web.charts import line_chart
from jobs.web.live import lower_is_better, metric_title

MAX_JOBS = 6  # one colour and dash pattern each (jobs.web.charts)
# Training jobs stored before the objective was always written trained the default one.
DEFAULT_OBJECTIVE = "sft"
# Settings the run follows or symptoms it shows, not results: no value of theirs is "best".
NOT_RANKED = ("learning_rate", "grad_norm", "epoch")


def parse_ids(query: Mapping) -> list[int]:
    """Job ids from ``?ids=1,2`` or ``?ids=1&ids=2`` (checkboxes), in order, without repeats."""
    raw = query.getlist("ids") if hasattr(query, "getlist") else [query.get("ids", "")]
    ids: list[int] = []
    for chunk in raw:
        for part in str(chunk).replace(" ", ",").split(","):
            part = part.strip().removeprefix("#")
            if part.isdigit() and len(part) < 10 and int(part) not in ids:
                ids.append(int(part))
    return ids


def team_jobs(team: Team, ids: list[int]) -> list[Job]:
    inputs = Prefetch("inputs", queryset=JobInput.objects.select_related("model", "dataset"))
    found = team.jobs.filter(pk__in=ids).select_related("base_model", "dataset").prefetch_related(inputs)
    by_id = {job.pk: job for job in found}
    return [by_id[i] for i in ids if i in by_id]


@dataclass
class DiffRow:
    label: str
    values: list[str]
    group: str = ""

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _inputs_text(job: Job, role: str) -> str:
    rows = [i for i in job.inputs.all() if i.role == role]
    names = [(i.model or i.dataset).name + (f" ×{i.weight:g}" if i.weight is not None else "") for i in rows]
    return ", ".join(names) or "—"


def config_diff(jobs: list[Job]) -> list[DiffRow]:
    """Every setting of the jobs side by side: what they are, what they read, every parameter."""
    rows = [
        DiffRow("Kind", [f"{job.kind} ({job.method})" for job in jobs], "Job"),
        DiffRow("Status", [job.status for job in jobs], "Job"),
    ]
    if any(job.kind == Job.Kind.TRAIN for job in jobs):
        rows.append(DiffRow("objective", [_objective(job) for job in jobs], "Job"))
    roles = sorted({i.role for job in jobs for i in job.inputs.all()})
    rows += [
        DiffRow(
            JobInput.Role(role).label.capitalize() if role in JobInput.Role.values else role,
            [_inputs_text(job, role) for job in jobs],
            "Inputs",
        )
        for role in roles
    ]
    groups = list(
        dict.fromkeys(
            group for job in jobs for group, values in job.params.items() if isinstance(values, dict)
        )
    )
    for group in groups:
        names = list(dict.fromkeys(n for job in jobs for n in (job.params.get(group) or {})))
        rows += [
            DiffRow(
                f"{group}.{name}",
                [_text((job.params.get(group) or {}).get(name)) for job in jobs],
                "Parameters",
            )
            for name in names
        ]
    plain = list(dict.fromkeys(k for job in jobs for k, v in job.params.items() if not isinstance(v, dict)))
    rows += [DiffRow(name, [_text(job.params.get(name)) for job in jobs], "Parameters") for name in plain]
    return rows


def _objective(job: Job) -> str:
    """A training job's objective; one recorded without it (made by hand) trained the default one."""
    if job.kind != Job.Kind.TRAIN:
        return "—"
    return job.objective or DEFAULT_OBJECTIVE


def ranked(name: str) -> bool:
    """Whether one value of this metric is better than another (a loss is; a learning rate is not)."""
    return name.rsplit("/", 1)[-1] not in NOT_RANKED


@dataclass
class FinalRow:
    name: str
    title: str
    cells: list[dict] = field(default_factory=list)  # per job: value, step, best, is_winner


def final_metrics(jobs: list[Job], series: dict) -> list[FinalRow]:
    """Per metric: each job's last value (and step) and its best; the best job's cell is marked.
    Metrics with no better or worse (learning rate, gradient norm) get neither a best nor a mark."""
    names = sorted({name for (_job, name) in series})
    rows = []
    for name in names:
        pick = min if lower_is_better(name) else max
        row = FinalRow(name, metric_title(name))
        for job in jobs:
            points = series.get((job.pk, name))
            if points:
                best = pick(v for _s, v in points) if ranked(name) else points[-1][1]
                row.cells.append({"value": points[-1][1], "step": points[-1][0], "best": best})
            else:
                row.cells.append({})
        finals = [c["value"] for c in row.cells if c]
        winner = pick(finals) if len(finals) > 1 and ranked(name) else None
        for cell in row.cells:
            cell["winner"] = bool(cell) and winner is not None and cell["value"] == winner
        rows.append(row)
    return rows


LABEL_CHARS = 28  # legends of several series fit one 640-pixel chart


def job_label(job: Job) -> str:
    label = f"#{job.pk} {job.name}"
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def overlaid_charts(jobs: list[Job], series: dict) -> list[tuple[str, SafeString]]:
    names = sorted({name for (_job, name) in series}, key=lambda n: (n != "train/loss", n != "eval/loss", n))
    charts = []
    for name in names:
        lines = {job_label(job): series[(job.pk, name)] for job in jobs if (job.pk, name) in series}
        if any(len(points) > 1 for points in lines.values()) or len(lines) > 1:
            title = metric_title(name)
            charts.append((title, line_chart(lines, title=title, height=260)))
    return charts


def evaluation_rows(jobs: list[Job], series: dict) -> list[DiffRow]:
    """The jobs' evaluation side by side: the forgetting report's changes (the team's limit marks a
    warning), the promotion gate's outcome and a judge's win rate; rows no job has are left out."""
    labels = ("Retention perplexity", "Retention questions, accuracy", "Promotion gate",
              "Judge win rate (candidate)")
    own = {job.pk: {n: p for (pk, n), p in series.items() if pk == job.pk} for job in jobs}
    columns = [_evaluation_cells(job, own[job.pk]) for job in jobs]
    rows = [DiffRow(label, [column[i] for column in columns]) for i, label in enumerate(labels)]
    return [row for row in rows if set(row.values) != {"—"}]


def _evaluation_cells(job: Job, own: dict) -> tuple[str, str, str, str]:
    found = retention_report(job, own)
    choice = found["choice"] if found else None
    warned = " (warned)"
    perplexity = f"{found['increase_percent']:+.1f} %{warned if found['warned'] else ''}" if found else "—"
    accuracy = f"{-choice['drop_points']:+.1f} points{warned if choice['warned'] else ''}" if choice else "—"
    gate = status_of(job.kind, job.params, job.gate_result)
    wins = [v for _step, v in own.get("eval/judge_win_rate") or [] if v is not None]
    return perplexity, accuracy, gate["status"] if gate else "—", f"{wins[-1]:.0%}" if wins else "—"


def comparison(jobs: list[Job]) -> dict:
    series = metric_series.downsampled([job.pk for job in jobs])
    return {
        "charts": overlaid_charts(jobs, series),
        "diff": config_diff(jobs),
        "finals": final_metrics(jobs, series),
        "evaluation": evaluation_rows(jobs, series),
    }


def recent_jobs(team: Team, limit: int = 30) -> QuerySet[Job]:
    return team.jobs.select_related("base_model").order_by("-created_at")[:limit]
