"""The web UI's pages.

Each view looks up the current team's object (another team's is a 404), checks permission,
calls one domain function and renders or redirects. An htmx request gets just the fragment
that changes; every page also works as plain links and forms.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from jobs import downloads, lineage, services
from jobs.charts import line_chart
from jobs.datasets import DatasetRejected, create_dataset
from jobs.forms import PARAM_GROUPS, DatasetUploadForm, JobForm, visible_models
from jobs.models import Artifact, Attempt, Dataset, Event, Job, MetricPoint
from jobs.teams import current_membership, require_launch

JOBS_PER_PAGE = 50
LOG_TAIL = 50
LOSS_SERIES = ("train/loss", "eval/loss")
LEARNING_RATE = "train/learning_rate"
STATUS_FILTERS = {"active": Job.ACTIVE, **{status: (status,) for status in Job.Status.values}}


KIND_LABELS = {
    "train": "LoRA fine-tune",
    "merge": "Merge",
    "quantize": "Quantization",
    "evaluate": "Evaluation",
}


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def human_duration(seconds: float | None) -> str:
    """'45 s', '12 min', '3 h 5 min', '2 d 4 h'; empty when unknown."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    minutes, secs = divmod(total, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if not minutes:
        return f"{secs} s"
    if not hours:
        return f"{mins} min {secs} s" if mins < 10 and secs else f"{mins} min"
    if not days:
        return f"{hrs} h {mins} min" if mins else f"{hrs} h"
    return f"{days} d {hrs} h" if hrs else f"{days} d"


def human_count(count: int | None) -> str:
    """'22.7 M', '1.1 B'; empty when unknown."""
    if count is None:
        return ""
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size:
            return f"{count / size:.3g} {suffix}"
    return str(count)


# --- jobs ---------------------------------------------------------------------------


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    status = request.GET.get("status", "")
    jobs = team.jobs.select_related("base_model", "dataset")
    if status in STATUS_FILTERS:
        jobs = jobs.filter(status__in=STATUS_FILTERS[status])
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    for job in page:
        job.eta_text = human_duration(job.eta_seconds)
    context = {
        "page": page,
        "status": status if status in STATUS_FILTERS else "",
        "filters": ["", *STATUS_FILTERS],
        # Poll while anything runs, whatever the filter: a finishing job moves between filters.
        "polling": team.jobs.filter(status__in=Job.ACTIVE).exists(),
    }
    template = "jobs/_job_table.html" if is_htmx(request) else "jobs/job_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def job_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    team = membership.team
    if request.method == "POST":
        require_launch(membership)
        form = JobForm(request.POST, team=team)
        if form.is_valid():
            data = form.cleaned_data
            job = services.create_training_job(
                team=team,
                user=request.user,
                name=data["name"],
                base_model=data["base_model"],
                dataset=data["dataset"],
                params=data["params"],
            )
            messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
            return redirect("jobs:job_detail", pk=job.pk)
    else:
        form = JobForm(team=team, initial={"dataset": request.GET.get("dataset")})
    return render(request, "jobs/job_form.html", {"form": form, "can_launch": membership.can_launch})


def _team_job(request: HttpRequest, pk: int):
    membership = current_membership(request)
    queryset = Job.objects.select_related("base_model", "dataset", "created_by")
    return membership, get_object_or_404(queryset, pk=pk, team=membership.team)


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership, job = _team_job(request, pk)
    context = {
        **live_context(job),
        "params": [(PARAM_GROUPS.get(group, (group,))[0], values) for group, values in job.params.items()],
        "artifacts": job.artifacts.all(),
        "can_cancel": membership.can_launch and job.is_active,
        "inputs": job.inputs.select_related("model", "dataset"),
        "outputs": lineage.outputs_of(job),
        "kind_label": KIND_LABELS.get(job.kind, job.kind),
    }
    return render(request, "jobs/job_detail.html", context)


@login_required
def job_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The part of the job page that changes while it runs; polled by htmx until the job ends."""
    membership, job = _team_job(request, pk)
    context = live_context(job)
    if is_htmx(request) and not context["polling"]:
        # The final render also replaces the artifacts and hides the cancel button (out of band).
        context |= {"final": True, "artifacts": job.artifacts.all(), "can_cancel": False}
    return render(request, "jobs/_job_live.html", context)


@login_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    membership, job = _team_job(request, pk)
    require_launch(membership)
    if services.cancel(job):
        messages.success(request, f"“{job.name}” is cancelled; its process is being stopped.")
    else:
        messages.info(request, f"“{job.name}” had already finished; there was nothing to cancel.")
    return redirect("jobs:job_detail", pk=job.pk)


@login_required
def artifact_download(request: HttpRequest, pk: int, artifact_id: int) -> HttpResponse:
    team = current_membership(request).team
    artifact = get_object_or_404(
        Artifact.objects.select_related("job"), pk=artifact_id, job_id=pk, job__team=team
    )
    return downloads.artifact_response(artifact)


def live_context(job: Job) -> dict:
    metrics = metric_series(job, (*LOSS_SERIES, LEARNING_RATE))
    losses = {name: metrics[name] for name in LOSS_SERIES if name in metrics}
    attempts = attempt_timeline(job)
    return {
        "job": job,
        # A cancelled job keeps updating until its process has really stopped.
        "polling": job.is_active or any(a.status in Attempt.LIVE for a in attempts),
        "percent": round(job.progress * 100),
        "eta_text": human_duration(job.eta_seconds),
        "loss_chart": line_chart(losses, title="Loss") if losses else "",
        "lr_chart": (
            line_chart({"learning rate": metrics[LEARNING_RATE]}, height=160, title="Learning rate")
            if LEARNING_RATE in metrics
            else ""
        ),
        "log_lines": log_tail(job),
        "samples": latest_samples(job),
        "attempts": attempts,
    }


def metric_series(job: Job, names: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    rows = MetricPoint.objects.filter(job=job, name__in=names).order_by("name", "step")
    for name, step, value in rows.values_list("name", "step", "value"):
        series.setdefault(name, []).append((step, value))
    return series


def _newest_events(job: Job, kind: str, limit: int) -> list[Event]:
    events = Event.objects.filter(attempt__job=job, kind=kind).select_related("attempt")
    return list(events.order_by("-attempt__number", "-seq")[:limit])


def log_tail(job: Job) -> list[Event]:
    """The last log lines across attempts, newest last."""
    return _newest_events(job, "log", LOG_TAIL)[::-1]


def latest_samples(job: Job) -> list[dict]:
    """The generations of the most recent step that produced samples."""
    recent = _newest_events(job, "sample", 20)
    if not recent:
        return []
    newest = recent[0]
    step = newest.payload.get("step")
    same = [e for e in recent if e.attempt_id == newest.attempt_id and e.payload.get("step") == step]
    return [e.payload for e in reversed(same)]


def attempt_timeline(job: Job) -> list:
    attempts = list(job.attempts.all())
    for attempt in attempts:
        attempt.resumed_label = Path(attempt.resumed_from).name if attempt.resumed_from else ""
    return attempts


# --- datasets -----------------------------------------------------------------------


@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    datasets = membership.team.datasets.select_related("created_by")
    context = {"datasets": datasets, "can_launch": membership.can_launch}
    return render(request, "jobs/dataset_list.html", context)


@login_required
def dataset_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    form, report = DatasetUploadForm(), None
    if request.method == "POST":
        require_launch(membership)
        form = DatasetUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                dataset = create_dataset(
                    team=membership.team,
                    user=request.user,
                    name=form.cleaned_data["name"],
                    upload=form.cleaned_data["file"],
                )
            except DatasetRejected as exc:
                form.add_error("file", str(exc))
                report = exc.report
            else:
                stored = f"“{dataset.name}” is checked and stored: {dataset.row_count:,} rows."
                messages.success(request, stored)
                return redirect("jobs:dataset_detail", pk=dataset.pk)
    context = {"form": form, "report": report, "can_launch": membership.can_launch}
    return render(request, "jobs/dataset_form.html", context)


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    dataset = get_object_or_404(Dataset, pk=pk, team=membership.team)
    columns, rows = preview_table(dataset.report.get("preview", []))
    context = {
        "dataset": dataset,
        "stats": dataset.report.get("stats", {}),
        "preview_columns": columns,
        "preview_rows": rows,
        "jobs": dataset.jobs.select_related("base_model"),
        "can_launch": membership.can_launch,
    }
    return render(request, "jobs/dataset_detail.html", context)


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
        return "\n".join(f"{m['role']}: {m.get('content', '')}" for m in value)  # a chat
    return json.dumps(value, ensure_ascii=False)


def preview_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Column names (in first-seen order) and cell texts for the report's preview rows."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return columns, [[_cell(row.get(column, "")) for column in columns] for row in rows]


# --- models -------------------------------------------------------------------------


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    models = list(visible_models(team).select_related("team", "adapter_base"))
    for model in models:
        model.parameters_text = human_count(model.parameter_count)
    return render(request, "jobs/model_list.html", {"models": models})
