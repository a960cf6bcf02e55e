"""The page that starts a sweep (its results are on the job's own page: jobs/web/sweep_page.py), and
saving its best trial as a team preset."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs.launch import LaunchRefused, LaunchRequest, errors, launch
from jobs.models import Job
from jobs.sweeps import presets
from jobs.teams.access import current_membership, require_launch
from jobs.web.sweep_forms import SweepForm


@login_required
def sweep_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    team = membership.team
    form = SweepForm(request.POST or None, team=team, initial={"dataset": request.GET.get("dataset")})
    if request.method == "POST":
        require_launch(membership)
        if form.is_valid():
            data = form.cleaned_data
            asked = LaunchRequest.of(
                Job.Kind.SWEEP,
                team=team,
                user=request.user,
                name=data["name"] or f"Sweep of {data['base_model'].name} on {data['dataset'].name}",
                method=data["method"],
                objective=data["objective"],
                params=form.params(),
                models=[("base", data["base_model"], None)],
                datasets=[("dataset", data["dataset"])],
            )
            try:
                job = launch(asked)
            except LaunchRefused as exc:
                errors.add_to_form(form, exc, form.field_of)
            else:
                messages.success(
                    request, f"“{job.name}” started; its trials appear on this page as they run."
                )
                return redirect("jobs:job_detail", pk=job.pk)
    return render(request, "jobs/sweep_form.html", {"form": form, "can_launch": membership.can_launch})


@login_required
@require_POST
def save_best_preset(request: HttpRequest, pk: int) -> HttpResponse:
    """The sweep's best trial saved as a team preset, one click from a new training job with it."""
    membership = current_membership(request)
    sweep = get_object_or_404(Job, pk=pk, team=membership.team)
    require_launch(membership)
    try:
        preset = presets.save_best(sweep, user=request.user, name=request.POST.get("name", "")[:200])
    except presets.PresetRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Saved “{preset.name}” as a team preset: the new job form offers it.")
    return redirect("jobs:job_detail", pk=sweep.pk)
