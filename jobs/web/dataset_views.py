"""The web UI's dataset pages: the list, the upload (the API's early refusal and upload handler),
and a dataset's detail with its rows as the model will read them.

Each view looks up the current team's object (another team's is a 404) and checks permission.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from jobs.data import datasets, preview
from jobs.models import Dataset, Job, ModelAsset
from jobs.teams.access import current_membership, require_launch
from jobs.web.forms import DatasetUploadForm


@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    datasets = membership.team.datasets.select_related("created_by")
    context = {"datasets": datasets, "can_launch": membership.can_launch}
    return render(request, "jobs/dataset_list.html", context)


@csrf_exempt  # checked below, once the upload handler that stops at the size limit is in place
@login_required
def dataset_create(request: HttpRequest) -> HttpResponse:
    """The browser's door onto jobs.data.datasets: the same early refusal and handler as the API's."""
    if request.method != "POST":
        return _dataset_form(request, DatasetUploadForm())
    require_launch(current_membership(request))
    try:
        datasets.refuse_early(request)
        datasets.limit_upload(request)
        return _dataset_upload(request)
    except datasets.UploadTooLarge as exc:
        form = DatasetUploadForm()
        form._errors, form.cleaned_data = ErrorDict(), {}  # an error without the body it came in
        form.add_error("file", str(exc))
    return _dataset_form(request, form)  # 200, like every other refusal on this page


@csrf_protect
def _dataset_upload(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    form, report = DatasetUploadForm(request.POST, request.FILES), None
    if form.is_valid():
        try:
            dataset = datasets.create_dataset(
                team=membership.team,
                user=request.user,
                name=form.cleaned_data["name"],
                upload=form.cleaned_data["file"],
            )
        except datasets.DatasetRejected as exc:
            form.add_error("file", str(exc))
            report = exc.report
        else:
            stored = f"“{dataset.name}” is checked and stored: {dataset.row_count:,} rows."
            messages.success(request, stored)
            return redirect("jobs:dataset_detail", pk=dataset.pk)
    return _dataset_form(request, form, report)


def _dataset_form(request: HttpRequest, form, report=None) -> HttpResponse:
    context = {"form": form, "report": report, "can_launch": current_membership(request).can_launch}
    return render(request, "jobs/dataset_form.html", context)


def jobs_using(dataset: Dataset):
    """Jobs that read the dataset in any role: trained on it, evaluated or calibrated with it."""
    return (
        Job.objects.filter(Q(dataset=dataset) | Q(inputs__dataset=dataset))
        .distinct()
        .select_related("base_model")
        .order_by("-created_at")
    )


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    dataset = get_object_or_404(Dataset, pk=pk, team=membership.team)
    columns, rows = preview_table(dataset.report.get("preview", []))
    context = {
        "dataset": dataset,
        "report": dataset.report,
        "preview_columns": columns,
        "preview_rows": rows,
        "stats": dataset.report.get("stats", {}),
        "jobs": jobs_using(dataset),
        "can_launch": membership.can_launch,
        **preview.dataset_context(dataset, ModelAsset.objects.visible_to(membership.team), request.GET),
    }
    return render(request, "jobs/dataset_detail.html", context)


@login_required
@require_POST
def dataset_golden(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the dataset golden (``golden=1``) or not: promotion gates measure task metrics on it."""
    membership = current_membership(request)
    dataset = get_object_or_404(Dataset, pk=pk, team=membership.team)
    require_launch(membership)
    golden = request.POST.get("golden") == "1"
    Dataset.objects.filter(pk=dataset.pk).update(golden=golden)
    if golden:
        messages.success(request, f"“{dataset.name}” is a golden evaluation set: jobs can gate on it.")
    else:
        messages.info(request, f"“{dataset.name}” is no longer a golden evaluation set.")
    return redirect("jobs:dataset_detail", pk=dataset.pk)


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
