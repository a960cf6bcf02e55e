"""The web UI's pages: jobs, models and comparisons (datasets' pages: ``jobs.web.dataset_views``).

Each view looks up the current team's object (another team's is a 404), checks permission,
calls one domain function and renders or redirects. An htmx request gets just the fragment
that changes; every page also works as plain links and forms.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string
from django.views.decorators.http import require_POST

from jobs import launch
from jobs.assets import lineage
from jobs.launch import LaunchRefused, LaunchRequest, ModelInput, errors, rerun
from jobs.launch.kinds import KINDS
from jobs.lifecycle import services
from jobs.models import Artifact, Job, ModelAsset, TeamPreset
from jobs.teams.access import current_membership, require_launch
from jobs.web import compare, downloads, gate_form, kind_views, next_steps
from jobs.web.form_fields import list_text
from jobs.web.forms import (
    ADVANCED_TRAINING_PARAMS,
    JobForm,
    form_spec_names,
    group_title,
    initial_from_params,
    method_label,
)
from jobs.web.gate_form import gate_part, initial_gate
from jobs.web.htmx import is_htmx
from jobs.web.live import live_context
from jobs.web.text import human_count, human_duration
from trainers import distributed

JOBS_PER_PAGE = 50
MAX_QUERY = 100
STATUS_FILTERS = {"active": Job.ACTIVE, **{status: (status,) for status in Job.Status.values}}
# Each kind's result section on the job page: its context, from the kind's traits.
RESULT_CONTEXTS = {kind: import_string(t.result_context) for kind, t in KINDS.items() if t.result_context}


# --- jobs ---------------------------------------------------------------------------


def filtered_jobs(team, query: str, status: str, kind: str):
    jobs = team.jobs.select_related("base_model", "dataset")
    if query:
        match = Q(name__icontains=query)
        number = query.removeprefix("#")
        if number.isdigit() and len(number) < 10:
            match |= Q(pk=int(number))  # "#42" finds job 42
        jobs = jobs.filter(match)
    if status in STATUS_FILTERS:
        jobs = jobs.filter(status__in=STATUS_FILTERS[status])
    if kind in Job.Kind.values:
        jobs = jobs.filter(kind=kind)
    return jobs


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    team = membership.team
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    status = request.GET.get("status", "")
    status = status if status in STATUS_FILTERS else ""
    kind = request.GET.get("kind", "")
    kind = kind if kind in Job.Kind.values else ""
    page = Paginator(filtered_jobs(team, query, status, kind), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for job in page:
        job.eta_text = human_duration(job.eta_seconds)
    context = {
        "page": page,
        "q": query,
        "status": status,
        "kind": kind,
        "filtered": bool(query or status or kind),
        "status_choices": ["active", *Job.Status.values],
        "kind_choices": [(value, KINDS[value].label) for value in Job.Kind.values],
        # Poll while anything runs, whatever the filter: a finishing job moves between filters.
        "polling": team.jobs.filter(status__in=Job.ACTIVE).exists(),
        "can_launch": membership.can_launch,
    }
    template = "jobs/_job_table.html" if is_htmx(request) else "jobs/job_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _initial_from(job: Job) -> dict:
    """The job form's fields filled from an earlier job: clone and edit."""
    initial = {"name": f"{job.name} (copy)"[:200], "base_model": job.base_model_id, "dataset": job.dataset_id}
    validation = job.inputs.filter(role="validation").select_related("dataset").first()
    golden = validation.dataset if validation else None
    settings = initial_from_params(job.method, job.objective, job.params)
    return initial | settings | initial_gate(job.params, golden)


def _kept_settings(source: Job | TeamPreset | None, params: dict, method: str) -> dict:
    """Settings the form has no field for (e.g. LoRA target modules) carry over from the source job
    or team preset."""
    if source is None or source.method != method:
        return params
    kept = {}
    for group, values in params.items():
        fields = form_spec_names(group, method)
        before = source.params.get(group, {})
        extra = {k: v for k, v in before.items() if k not in fields}
        # A list the form shows as text (rewards as "math, format:0.2") and sent back unchanged keeps
        # what the text cannot show (each reward's own parameters).
        same = {k: before[k] for k, v in values.items() if _same_list(v, before.get(k))}
        kept[group] = {**values, **extra, **same}
    return kept


def _same_list(given: object, before: object) -> bool:
    return isinstance(given, list) and isinstance(before, list) and list_text(given) == list_text(before)


@login_required
def job_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    team = membership.team
    source_id = str(request.POST.get("from") or request.GET.get("from") or "")
    is_id = source_id.isdigit() and len(source_id) < 10
    source = team.jobs.filter(pk=source_id, kind=Job.Kind.TRAIN).first() if is_id else None
    preset = _team_preset(request, team)
    if request.method == "POST":
        require_launch(membership)
        form = JobForm(request.POST, team=team)
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = launch.launch_training(
                    team=team,
                    user=request.user,
                    name=data["name"],
                    base_model=data["base_model"],
                    dataset=data["dataset"],
                    method=data["method"],
                    objective=data["objective"],
                    params=_kept_settings(source or preset, data["params"], data["method"]) | gate_part(data),
                    validation=data.get("gate_golden"),
                )
            except LaunchRefused as exc:
                errors.add_to_form(form, exc, gate_form.train_field_of(data["method"]))
            else:
                messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
                return redirect("jobs:job_detail", pk=job.pk)
    elif source is not None:
        form = JobForm(team=team, initial=_initial_from(source))
    elif preset is not None:
        initial = initial_from_params(preset.method, preset.objective, preset.params)
        form = JobForm(team=team, initial={"dataset": request.GET.get("dataset"), **initial})
    else:
        form = JobForm(team=team, initial={"dataset": request.GET.get("dataset")})
    context = {
        "form": form,
        "can_launch": membership.can_launch,
        "source": source,
        "preset": preset,
        "team_presets": team.presets.all()[:20],
        "advanced_names": ADVANCED_TRAINING_PARAMS,
    }
    return render(request, "jobs/job_form.html", context)


def _team_preset(request: HttpRequest, team) -> TeamPreset | None:
    """The team preset the form starts from (``?preset=<id>``), if it is the team's."""
    asked = str(request.POST.get("preset") or request.GET.get("preset") or "")
    return team.presets.filter(pk=asked).first() if asked.isdigit() and len(asked) < 10 else None


def _team_job(request: HttpRequest, pk: int):
    membership = current_membership(request)
    queryset = Job.objects.select_related("base_model", "dataset", "created_by")
    return membership, get_object_or_404(queryset, pk=pk, team=membership.team)


def settled_context(job: Job, membership) -> dict:
    """The parts of the job page that change only when the job ends: actions, outputs, lineage."""
    outputs = list(lineage.outputs_of(job).select_related("adapter_base"))
    for model in outputs:
        model.next_steps = next_steps.output_steps(job, model, membership)
        model.next_steps += kind_views.merge_steps(model, membership)
    return {
        **next_steps.job_actions(job, membership),
        "artifacts": job.artifacts.all(),
        "inputs": job.inputs.select_related("model", "dataset"),
        "outputs": outputs,
        "datasets_made": list(job.datasets_made.all()),
    }


def shape_text(job: Job) -> str:
    """How the job's attempts run, from its spec: "1 node × 2 CPU processes (2 processes): …"."""
    shape = job.spec.get("distributed") if job.kind == Job.Kind.TRAIN and job.spec else None
    if not shape:
        return ""
    params = distributed.DistributedParams.model_validate(shape)
    text = distributed.describe(params, gpus=bool(job.profile_id and job.profile.gpu_count))
    return f"{text}; rank 0 reports progress and metrics" if params.world_size > 1 else text


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership, job = _team_job(request, pk)
    context = {
        **live_context(job),
        **settled_context(job, membership),
        "params": [(group_title(group, job.method), values) for group, values in job.params.items()],
        "shape_text": shape_text(job),
        "kind_label": " · ".join(filter(None, [KINDS[job.kind].label, method_label(job.kind, job.method)])),
        "result_template": KINDS[job.kind].result,
        "can_launch": membership.can_launch,
    }
    if job.kind in RESULT_CONTEXTS:
        context |= RESULT_CONTEXTS[job.kind](job, request.GET)
    return render(request, "jobs/job_detail.html", context)


@login_required
def job_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The part of the job page that changes while it runs; polled by htmx until the job ends."""
    membership, job = _team_job(request, pk)
    context = live_context(job)
    if is_htmx(request) and not context["polling"]:
        # The final render also replaces the actions, outputs and lineage (out of band).
        context |= {"final": True, **settled_context(job, membership)}
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
@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    membership, job = _team_job(request, pk)
    require_launch(membership)
    try:
        new = rerun.retry(job, user=request.user)
    except rerun.RetryRefused as exc:
        messages.error(request, f"“{job.name}” was not retried: {exc}.")
        return redirect("jobs:job_detail", pk=job.pk)
    messages.success(request, f"Retrying “{job.name}” as job #{new.pk}; job #{job.pk} keeps its history.")
    return redirect("jobs:job_detail", pk=new.pk)


@login_required
@require_POST
def merge_into_base(request: HttpRequest, pk: int, model_id: int) -> HttpResponse:
    """One click from a finished training job: fold its adapter into the base model, so the result
    is a plain model that loads without peft and can be quantized."""
    membership, job = _team_job(request, pk)
    require_launch(membership)
    adapter = get_object_or_404(
        lineage.outputs_of(job).filter(format=ModelAsset.Format.ADAPTER, adapter_base__isnull=False),
        pk=model_id,
    )
    request_ = LaunchRequest(
        kind=Job.Kind.MERGE,
        team=membership.team,
        user=request.user,
        name=f"{adapter.name} merged into {adapter.adapter_base.name}",
        method="lora_fold",
        params={"method": "lora_fold"},
        models=(ModelInput("base", adapter.adapter_base), ModelInput("model", adapter)),
    )
    try:
        merged = launch.launch(request_)
    except LaunchRefused as exc:
        messages.error(request, f"The adapter was not merged: {exc}")
        return redirect("jobs:job_detail", pk=job.pk)
    messages.success(request, f"“{merged.name}” is queued.")
    return redirect("jobs:job_detail", pk=merged.pk)


@login_required
def artifact_download(request: HttpRequest, pk: int, artifact_id: int) -> HttpResponse:
    team = current_membership(request).team
    artifact = get_object_or_404(
        Artifact.objects.select_related("job"), pk=artifact_id, job_id=pk, job__team=team
    )
    try:
        return downloads.serve(request, artifact)  # the API's download: cached zip, Range
    except downloads.Unsatisfiable as exc:
        reply = HttpResponse(f"{exc}.", status=416, content_type="text/plain; charset=utf-8")
        reply["Content-Range"] = f"bytes */{exc.size}"
        return reply


# --- models -------------------------------------------------------------------------


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    models = list(ModelAsset.objects.visible_to(membership.team).select_related("team", "adapter_base"))
    for model in models:
        model.parameters_text = human_count(model.parameter_count)
    return render(request, "jobs/model_list.html", {"models": models, "can_launch": membership.can_launch})


# --- compare ------------------------------------------------------------------------


@login_required
def job_compare(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    ids = compare.parse_ids(request.GET)
    jobs = compare.team_jobs(team, ids[: compare.MAX_JOBS])
    context = {
        "jobs": jobs,
        "dropped": max(len(ids) - compare.MAX_JOBS, 0),
        "max_jobs": compare.MAX_JOBS,
        "not_found": len(ids[: compare.MAX_JOBS]) - len(jobs),
    }
    if len(jobs) >= 2:
        context |= compare.comparison(jobs)
    else:
        context["recent"] = compare.recent_jobs(team)
        context["chosen"] = {job.pk for job in jobs}
    return render(request, "jobs/compare.html", context)
