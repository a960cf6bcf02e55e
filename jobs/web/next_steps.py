"""What a user can do next with a job on its page: cancel, retry, clone, continue, and use what it made."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from jobs.launch import continuation
from jobs.models import Job, Membership, ModelAsset


@dataclass(frozen=True)
class NextStep:
    label: str
    url: str
    method: str = "get"  # "post" for buttons that start something


def output_steps(job: Job, model: ModelAsset, membership: Membership) -> list[NextStep]:
    """Links from one output model to the jobs and pages that use it."""
    steps = []
    if model.format != ModelAsset.Format.GGUF:
        steps.append(NextStep("Try it in the playground", reverse("jobs:playground", args=[model.pk])))
    if not membership.can_launch:
        return steps
    if model.format != ModelAsset.Format.GGUF:
        url = reverse("jobs:evaluate_against_base", args=[job.pk, model.pk])
        steps.append(NextStep("Evaluate against its base", url, method="post"))
    if model.format == ModelAsset.Format.ADAPTER and model.adapter_base_id:
        url = reverse("jobs:merge_into_base", args=[job.pk, model.pk])
        steps.append(NextStep("Merge into its base", url, method="post"))
    if model.format == ModelAsset.Format.TRANSFORMERS and not model.quantization:
        steps.append(NextStep("Quantize…", f"{reverse('jobs:quantize_create')}?model={model.pk}"))
    return steps


def job_actions(job: Job, membership: Membership) -> dict:
    """Which of cancel, retry, clone and continue the page offers this member."""
    launch = membership.can_launch
    training = job.kind == Job.Kind.TRAIN
    return {
        "can_cancel": launch and job.is_active,
        "can_retry": launch and job.status in (Job.Status.FAILED, Job.Status.CANCELLED),
        "can_clone": launch and training,
        # Succeeded training jobs register their result as outputs (continue_views checks it has one).
        "can_continue": launch and continuation.can_continue(job),
    }
