"""The "Continue training" page of a succeeded training job: more epochs, optionally on another
dataset of the same task, as a new job whose lineage starts from the first job's result."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from jobs.launch.continuation import ContinueRefused, can_continue, continue_training, start_from
from jobs.models import Job
from jobs.teams.access import current_membership, require_launch
from jobs.web.forms import DatasetChoice, spec_field
from trainers.spec import TrainingParams


class ContinueForm(forms.Form):
    epochs = spec_field(TrainingParams, "epochs")
    dataset = DatasetChoice(
        queryset=None, required=False, empty_label="The same dataset",
        help_text="Another dataset of the same task, or the one the first job trained on.",
    )  # fmt: skip
    name = forms.CharField(
        max_length=200, required=False, help_text="Blank: the first job's name, continued."
    )

    def __init__(self, *args, job: Job, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        task = job.dataset.task if job.dataset_id else None
        same_task = job.team.datasets.filter(task=task) if task else job.team.datasets.none()
        self.fields["dataset"].queryset = same_task
        self.fields["epochs"].help_text = "More passes over the data, from where the first job ended. " + (
            self.fields["epochs"].help_text
        )
        self.fields["epochs"].initial = job.params.get("training", {}).get("epochs", TrainingParams().epochs)


@login_required
def job_continue(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    jobs = Job.objects.select_related("dataset", "base_model", "team")
    job = get_object_or_404(jobs, pk=pk, team=membership.team)
    if not can_continue(job) or start_from(job) is None:
        messages.error(request, f"“{job.name}” has no trained result to continue from.")
        return redirect("jobs:job_detail", pk=job.pk)
    form = ContinueForm(request.POST or None, job=job)
    if request.method == "POST":
        require_launch(membership)
        if form.is_valid():
            data = form.cleaned_data
            try:
                new = continue_training(
                    job, user=request.user, epochs=data["epochs"], dataset=data["dataset"], name=data["name"]
                )
            except ContinueRefused as exc:
                field = str(exc).split(":", 1)[0]
                form.add_error(field if field in form.fields else None, str(exc))
            else:
                messages.success(request, f"“{new.name}” is queued; it starts from job #{job.pk}'s result.")
                return redirect("jobs:job_detail", pk=new.pk)
    context = {"form": form, "job": job, "start": start_from(job), "can_launch": membership.can_launch}
    return render(request, "jobs/continue_form.html", context)
