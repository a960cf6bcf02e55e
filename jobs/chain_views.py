"""Pages that start the jobs which follow training: quantize, evaluate, merge; and the
one-click next steps on a finished job's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs import kinds, lineage
from jobs.chain_forms import EvaluateForm, QuantizeForm
from jobs.models import Job, ModelAsset
from jobs.teams import current_membership, require_launch

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
            try:
                job = kinds.create_job(
                    kind,
                    team=team,
                    user=request.user,
                    name=data["name"],
                    params=data["params"],
                    models=models,
                    datasets=datasets,
                )
            except kinds.JobRejected as exc:
                _attach(form, str(exc))
            else:
                messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
                return redirect("jobs:job_detail", pk=job.pk)
    else:
        form = form_class(
            team=team, initial={field: request.GET.get(key) for key, field in preselect.items()}
        )
    return render(request, template, {"form": form, "can_launch": membership.can_launch})


def _attach(form, message: str) -> None:
    """Put a spec error next to the field it names (``outputs: …``), else on the form."""
    field = message.split(":", 1)[0].split(".")[0].strip()
    form.add_error(field if field in form.fields else None, message)


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
    try:
        new = kinds.create_job(
            "evaluate",
            team=membership.team,
            user=request.user,
            name=f"{output.name} vs {base.name}"[:200],
            params={},
            models=[("base", base, None), ("candidate", output, None)],
        )
    except kinds.JobRejected as exc:
        messages.error(request, str(exc))
        return redirect("jobs:job_detail", pk=job.pk)
    messages.success(request, f"“{new.name}” is queued.")
    return redirect("jobs:job_detail", pk=new.pk)
