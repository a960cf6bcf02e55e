"""Pages that start the jobs which follow training: quantize, evaluate, merge; and the
one-click next steps on a finished job's page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from jobs.assets import lineage
from jobs.launch import LaunchRefused, LaunchRequest, errors, launch
from jobs.models import Job, Membership, ModelAsset, Team
from jobs.teams.access import current_membership, require_launch
from jobs.web.htmx import is_htmx
from jobs.web.kind_forms import EvaluateForm, QuantizeForm
from jobs.web.merge_forms import WEIGHT_HELP, MergeForm, merge_method, mergeable_models
from jobs.web.next_steps import NextStep
from trainers.merge import registry

FORMS = {
    "quantize": (QuantizeForm, "jobs/quantize_form.html", {"model": "model"}),
    "evaluate": (EvaluateForm, "jobs/evaluate_form.html", {"base": "base", "candidate": "candidate"}),
}


def _create(request: HttpRequest, kind: str) -> HttpResponse:
    form_class, template, preselect = FORMS[kind]
    membership = current_membership(request)
    team = membership.team
    if request.method == "POST":
        require_launch(membership)
        form = form_class(request.POST, team=team)
        if form.is_valid():
            models, datasets = form.inputs()
            data = form.cleaned_data
            asked = LaunchRequest.of(
                kind,
                team=team,
                user=request.user,
                name=data["name"],
                params=data["params"],
                models=models,
                datasets=datasets,
            )
            try:
                job = launch(asked)
            except LaunchRefused as exc:
                errors.add_to_form(form, exc, lambda loc: _field(form, loc))
            else:
                messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
                return redirect("jobs:job_detail", pk=job.pk)
    else:
        form = form_class(
            team=team, initial={field: request.GET.get(key) for key, field in preselect.items()}
        )
    # The operator's judge endpoint is offered where one is configured (its key is never shown).
    endpoint = bool(settings.HONE_JUDGE_BASE_URL and settings.HONE_JUDGE_MODEL)
    context = {"form": form, "can_launch": membership.can_launch, "judge_endpoint": endpoint}
    return render(request, template, context)


def _field(form, loc: tuple) -> str | None:
    """The field a problem is about: its place's last name the form has (``gptq_int4.calibration_samples``
    → calibration_samples, ``outputs``), the spec's ``eval_texts`` being the form's eval_dataset."""
    renamed = {"eval_texts": "eval_dataset", "use_endpoint": "judge_endpoint"}
    names = [renamed.get(str(part), str(part)) for part in loc]
    return next((name for name in reversed(names) if name in form.fields), None)


@login_required
def quantize_create(request: HttpRequest) -> HttpResponse:
    return _create(request, "quantize")


@login_required
def evaluate_create(request: HttpRequest) -> HttpResponse:
    return _create(request, "evaluate")


@login_required
@require_POST
def evaluate_against_base(request: HttpRequest, pk: int, model_id: int) -> HttpResponse:
    """One click from a finished job: compare one of its output models with its base."""
    membership = current_membership(request)
    require_launch(membership)
    job = get_object_or_404(Job, pk=pk, team=membership.team)
    output = get_object_or_404(lineage.outputs_of(job), pk=model_id)
    base = output.adapter_base or job.base_model
    if base is None or output.format == ModelAsset.Format.GGUF:
        messages.error(
            request, "This output has no base model to compare with; pick both on the evaluate page."
        )
        return redirect("jobs:evaluate_create")
    asked = LaunchRequest.of(
        Job.Kind.EVALUATE,
        team=membership.team,
        user=request.user,
        name=f"{output.name} vs {base.name}",
        models=[("base", base, None), ("candidate", output, None)],
    )
    try:
        new = launch(asked)
    except LaunchRefused as exc:
        messages.error(request, str(exc))
        return redirect("jobs:job_detail", pk=job.pk)
    messages.success(request, f"“{new.name}” is queued.")
    return redirect("jobs:job_detail", pk=new.pk)


@login_required
def merge_create(request: HttpRequest) -> HttpResponse:
    """Merge several models: the method (``?method=``) first, then its inputs and parameters."""
    membership = current_membership(request)
    team = membership.team
    method = merge_method(request.POST.get("method") or request.GET.get("method"))
    if request.method == "POST":
        require_launch(membership)
        form = MergeForm(request.POST, team=team, method=method)
        if form.is_valid():
            try:
                job = launch(
                    LaunchRequest.of(Job.Kind.MERGE, team=team, user=request.user, **form.job_request())
                )
            except LaunchRefused as exc:
                errors.add_to_form(form, exc, form.field_for)
            else:
                messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
                return redirect("jobs:job_detail", pk=job.pk)
    else:
        form = MergeForm(team=team, method=method, initial=_merge_initial(request, team))
    context = {
        "form": form,
        "method": method,
        "methods": list(registry.METHODS.values()),
        "weight_help": WEIGHT_HELP[method.weights],
        "can_launch": membership.can_launch,
        "query": _preselection_query(request),
    }
    template = "jobs/_merge_form.html" if is_htmx(request) else "jobs/merge_form.html"
    return render(request, template, context)


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _merge_initial(request: HttpRequest, team: Team) -> dict:
    """Models picked in advance: ``?models=3&models=5``, or the outputs of ``?job=<id>``."""
    picked = _ids(request.GET.getlist("models"))
    job_ids = _ids(request.GET.getlist("job"))
    if job_ids:
        jobs = Job.objects.filter(team=team, pk__in=job_ids)
        picked += list(mergeable_models(team).filter(produced_by__in=jobs).values_list("pk", flat=True))
    chosen = list(mergeable_models(team).filter(pk__in=picked))
    bases = {m.adapter_base_id for m in chosen if m.adapter_base_id}
    return {"models": [m.pk for m in chosen], "base_model": bases.pop() if len(bases) == 1 else None}


def _preselection_query(request: HttpRequest) -> str:
    """The models preselected, kept when the method is changed by a link."""
    keep = [
        (key, value) for key in ("models", "job") for value in request.GET.getlist(key) if value.isdigit()
    ]
    return "".join(f"&{key}={value}" for key, value in keep)


def merge_steps(model: ModelAsset, membership: Membership) -> list[NextStep]:
    """From one output of a finished job: merge it with other models."""
    mergeable = model.format != ModelAsset.Format.GGUF and not model.quantization
    if not (membership.can_launch and mergeable):
        return []
    return [NextStep("Merge with other models…", f"{reverse('jobs:merge_create')}?models={model.pk}")]
