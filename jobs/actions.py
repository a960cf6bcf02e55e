"""What a user can do next with a job: retry it, copy it, and use what it made."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from jobs import continuation
from jobs.launch import LaunchRefused, launch, rerun_request
from jobs.models import Job, Membership, ModelAsset


class RetryRefused(ValueError):
    """The job cannot be run again as it is; the message says why."""


def retry(job: Job, *, user) -> Job:
    """Run a failed or cancelled job again: a NEW job with the same inputs, parameters and compute
    profile, through the launch path (so it is checked as a new job is).

    A new job rather than a requeue, so the original keeps its attempts, error, metrics and finish
    time as they were, and the retry gets a fresh attempt budget; it starts from scratch (the old
    job's checkpoints are not reused). Succeeded training jobs are cloned instead (job form, API)."""
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise RetryRefused(f"only failed or cancelled jobs can be retried; job #{job.pk} is {job.status}")
    try:
        return launch(rerun_request(job, user=user))
    except LaunchRefused as exc:
        raise RetryRefused(str(exc)) from None


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
