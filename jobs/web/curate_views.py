"""Curate pages: the "Curate…" form with a preview of what would be dropped and why (before any
job exists), and the result section of a finished curate job's page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render

from jobs.data import storage
from jobs.guided.sizing import default_profile, device_of
from jobs.launch import LaunchRefused, LaunchRequest, errors, launch
from jobs.lifecycle import specs
from jobs.models import Artifact, Dataset, Job
from jobs.teams.access import current_membership, require_launch
from jobs.web.curate_forms import CurateForm
from jobs.web.histogram import length_histogram, score_histogram, value_histogram
from trainers.curate import run as curate_run
from trainers.curate.estimate import curate_time, human_seconds
from trainers.formats import DataError
from trainers.spec import SpecError, parse_spec

PREVIEW_ROWS = 2000  # rows the preview scores in the request: a second or two


@login_required
def curate_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    team = membership.team
    preview = None
    if request.method == "POST":
        require_launch(membership)  # the preview too: it reads data only those who may curate use
        form = CurateForm(request.POST, team=team)
        if form.is_valid() and "preview" in request.POST:
            preview = preview_of(form)
        elif form.is_valid():
            models, datasets = form.inputs()
            asked = LaunchRequest.of(
                Job.Kind.CURATE,
                team=team,
                user=request.user,
                name=form.cleaned_data["name"],
                params=form.cleaned_data["params"],
                models=models,
                datasets=datasets,
            )
            try:
                job = launch(asked)
            except LaunchRefused as exc:
                errors.add_to_form(form, exc, form.field_for)
            else:
                messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
                return redirect("jobs:job_detail", pk=job.pk)
    else:
        picked = team.datasets.filter(pk__in=[v for v in request.GET.getlist("dataset") if v.isdigit()])
        form = CurateForm(team=team, initial={"datasets": list(picked), "keep_percent": 100})
    context = {
        "form": form,
        "preview": preview,
        "can_launch": membership.can_launch,
        "preview_rows": PREVIEW_ROWS,
    }
    return render(request, "jobs/curate_form.html", context)


def preview_of(form: CurateForm) -> dict:
    """The cheap steps on the first rows, as the job would run them; problems go to the form."""
    models, datasets = form.inputs()
    chosen = [d for role, d in datasets if role == "dataset"]
    evaluation = next((d for role, d in datasets if role == "eval"), None)
    target = next((d for role, d in datasets if role == "target"), None)
    body = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": str(storage.root() / "tmp"),
        **form.cleaned_data["params"],
        "datasets": [specs.dataset_ref(d) for d in chosen],
        "dataset_names": [d.name for d in chosen],
        "dataset_rows": [d.row_count for d in chosen],
        "eval_set": specs.dataset_ref(evaluation) if evaluation else None,
        "target_set": specs.dataset_ref(target) if target else None,
        "tokenizer": specs.model_ref(models[0][1]) if models else None,
    }
    try:
        took = time_estimate(parse_spec(body))
        body.pop("labels", None)  # not previewed: it needs the whole data and a model
        found = curate_run.preview(parse_spec(body), PREVIEW_ROWS)
    except (SpecError, DataError) as exc:
        form.add_error(None, str(exc).removeprefix("invalid job spec: "))
        return {}
    steps = ("labels", "difficulty", "fit", "diversity", "influence")
    skipped = [s for s in steps if s in form.cleaned_data["params"]]
    return found | {"skipped": skipped, "estimate": took}


def time_estimate(spec) -> str:
    """The whole job's estimated time on the default profile, in words (empty without a profile)."""
    profile = default_profile()
    device = device_of(profile)
    if device is None:
        return ""
    found = curate_time(spec, device)
    parts = ", ".join(f"{step} {human_seconds(s)}" for step, s in found.parts if s >= 1)
    return f"about {human_seconds(found.seconds)} on the {profile.name} profile" + (
        f" ({parts})" if parts else ""
    )


def result_context(job: Job, query: QueryDict | None = None) -> dict:
    """The job page's result section of a curate job (``jobs/_curate_result.html``)."""
    return {"curated": curate_result(job)}


def curate_result(job: Job) -> dict | None:
    """A succeeded curate job's summary, its score histograms, and the dataset it made."""
    if job.kind != Job.Kind.CURATE:
        return None
    summary = job.artifacts.filter(name="summary", kind=Artifact.Kind.REPORT).first()
    if summary is None:
        return None
    try:
        body = json.loads(storage.resolve(summary.location).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {**body, "charts": charts(job, body), "made": Dataset.objects.filter(produced_by=job).first()}


def charts(job: Job, body: dict) -> list[tuple[str, str]]:
    """(title, SVG) for each score the job computed: tokens, near-duplicate similarity, label quality."""
    import pyarrow.parquet as pq

    scores = job.artifacts.filter(name="scores").first()
    if scores is None:
        return []
    try:
        table = pq.read_table(storage.resolve(scores.location))
        columns = {name: table.column(name).to_pylist() for name in SCORES if name in table.column_names}
    except (OSError, ValueError):
        return []
    found = []
    tokens = [v for v in columns.get("tokens", []) if v is not None]
    if tokens:
        cut = (body.get("steps", {}).get("quality") or {}).get("max_tokens") or max(tokens) * 4
        found.append(("Length of every row", length_histogram(tokens, cut)))
    for name, title, unit in (
        ("similarity", "Similarity of each duplicate to what it repeats", "% alike"),
        ("label_quality", "How sure the check is of each label", "% label quality"),
    ):
        values = [v for v in columns.get(name, []) if v is not None]
        if values:
            found.append((title, score_histogram(values, unit=unit)))
    return found + real_valued_charts(columns)


SCORES = ("tokens", "similarity", "label_quality", "fit_loss", "margin", "influence", "reason")


def real_valued_charts(columns: dict[str, list]) -> list[tuple[str, str]]:
    """Loss under the model, margin of the label, influence toward the target: each where computed.
    The fit chart marks the band the job kept (between the easiest and hardest rows it dropped)."""
    found = []
    for name, title, unit in (
        ("fit_loss", "Loss of each answer under the model (the fit step)", "loss per token"),
        ("margin", "How clearly each row reads as its label (the difficulty step)", "margin"),
        ("influence", "Influence of each row toward the target set", "score"),
    ):
        values = [v for v in columns.get(name, []) if v is not None]
        if not values:
            continue
        marks: tuple[float, ...] = ()
        if name == "fit_loss":
            kept = [v for v, reason in zip(columns["fit_loss"], columns["reason"], strict=True)
                    if v is not None and reason not in ("too_easy", "too_far")]
            marks = (min(kept), max(kept)) if kept and len(kept) < len(values) else ()
        found.append((title, value_histogram(values, unit=unit, marks=marks)))
    return found
