"""Hone's records as OpenAI's fine-tuning objects: a job, its events and its checkpoints."""

from __future__ import annotations

from api.models import OpenAIFineTune
from api.openai_compat import hyperparameters, ids
from jobs.models import Event, Job, JobInput, MetricPoint, ModelAsset

STATUSES = {
    Job.Status.QUEUED: "queued",
    Job.Status.STARTING: "running",  # claimed and handed to the executor
    Job.Status.RUNNING: "running",
    Job.Status.SUCCEEDED: "succeeded",
    Job.Status.FAILED: "failed",
    Job.Status.CANCELLED: "cancelled",
}
LEVELS = {"warning": "warn", "warn": "warn", "error": "error", "critical": "error"}


def record_of(job: Job) -> OpenAIFineTune:
    """The OpenAI side of a job; a job launched elsewhere (the UI, the REST API) has none: its defaults."""
    try:
        return job.openai
    except OpenAIFineTune.DoesNotExist:
        method = {"dpo": "dpo", "grpo": "reinforcement"}.get(job.objective, "supervised")
        return OpenAIFineTune(job=job, method=method)


def fine_tuned_model(job: Job, record: OpenAIFineTune) -> str | None:
    output = ModelAsset.objects.filter(produced_by=job).order_by("pk").first()
    return ids.model_id(output, suffix=record.suffix) if output is not None else None


def _method(record: OpenAIFineTune, shown: dict) -> dict:
    inner: dict = {"hyperparameters": shown}
    if record.method == "reinforcement":
        inner["grader"] = record.grader or None  # None: a grpo job launched outside this API
    return {"type": record.method, record.method: inner}


def job_object(job: Job) -> dict:
    record = record_of(job)
    shown = hyperparameters.shown(record.method, record.hyperparameters, job.params)
    failed = job.status == Job.Status.FAILED
    return {
        "object": "fine_tuning.job",
        "id": ids.of("job", job.pk),
        "model": ids.model_id(job.base_model) if job.base_model_id else None,
        "created_at": ids.timestamp(job.created_at),
        "finished_at": ids.timestamp(job.finished_at),
        "fine_tuned_model": fine_tuned_model(job, record) if job.status == Job.Status.SUCCEEDED else None,
        "organization_id": job.team.slug,
        "result_files": [],
        "status": STATUSES.get(job.status, job.status),
        "validation_file": _validation_file(job),
        "training_file": ids.of("file", job.dataset_id) if job.dataset_id else None,
        "hyperparameters": shown,
        "method": _method(record, shown),
        "trained_tokens": None,
        "error": {"code": "job_failed", "message": job.error or "The job failed.", "param": None}
        if failed
        else None,
        "user_provided_suffix": record.suffix or None,
        "seed": job.params.get("training", {}).get("seed"),
        "estimated_finish": _estimated_finish(job),
        "integrations": [],
        "metadata": record.metadata or None,
        "hone": {"job_id": job.pk, "url": f"/jobs/{job.pk}/", "method": job.method},
    }


def _validation_file(job: Job) -> str | None:
    found = job.inputs.filter(role=JobInput.Role.VALIDATION).values_list("dataset_id", flat=True).first()
    return ids.of("file", found) if found else None


def _estimated_finish(job: Job) -> int | None:
    if job.eta_seconds is None or job.status not in (Job.Status.RUNNING, Job.Status.STARTING):
        return None
    return ids.timestamp(job.updated_at) + int(job.eta_seconds)


def _message(event: Event) -> tuple[str, str, dict]:
    """(type, message, data) of one Hone event."""
    p = event.payload
    kind = event.kind
    if kind == "metric":
        name = str(p.get("name", "")).replace("/", "_")
        return (
            "metrics",
            f"Step {p.get('step')}: {p.get('name')}={p.get('value')}",
            {"step": p.get("step"), name: p.get("value")},
        )
    if kind == "progress":
        return (
            "metrics",
            f"Step {p.get('step')}/{p.get('total')}",
            {"step": p.get("step"), "total_steps": p.get("total")},
        )
    if kind == "started":
        return (
            "message",
            f"Training started: {p.get('total_steps')} steps on {p.get('device') or 'the trainer'}",
            {},
        )
    if kind == "checkpoint":
        return "message", f"Checkpoint saved at step {p.get('step')}", {"step": p.get("step")}
    if kind == "artifact":
        return "message", f"Saved {p.get('name')} ({p.get('artifact_kind')})", {}
    if kind == "sample":
        return "message", f"Sample at step {p.get('step')}: {p.get('output', '')[:200]}", {}
    if kind == "finished":
        if p.get("status") == "succeeded":
            return "message", "The job has successfully completed", {}
        return "message", f"The job {p.get('status')}: {p.get('error') or ''}".strip(), {}
    return "message", str(p.get("message") or p.get("problem") or kind), {}


def event_object(event: Event) -> dict:
    type_, message, data = _message(event)
    level = LEVELS.get(str(event.payload.get("level", "info")).lower(), "info")
    if event.kind == "finished" and event.payload.get("status") == "failed":
        level = "error"
    return {
        "object": "fine_tuning.job.event",
        "id": ids.of("event", event.pk),
        "created_at": ids.timestamp(event.time),
        "level": level,
        "message": message,
        "type": type_,
        "data": data,
    }


def checkpoint_renderer(job: Job):
    """A function rendering the job's checkpoint events, each with the metrics last logged by its step."""
    record = record_of(job)
    output = ModelAsset.objects.filter(produced_by=job).order_by("pk").first()
    model = ids.model_id(output, suffix=record.suffix) if output else f"{ids.of('job', job.pk)}"
    points = list(
        MetricPoint.objects.filter(job=job).order_by("step", "pk").values_list("name", "step", "value")
    )

    def render(event: Event) -> dict:
        step = int(event.payload.get("step", 0))
        metrics: dict = {"step": step}
        for name, at, value in points:
            if at <= step:
                metrics[_metric_name(name)] = value
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": ids.of("checkpoint", event.pk),
            "created_at": ids.timestamp(event.time),
            "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{step}",
            "fine_tuning_job_id": ids.of("job", job.pk),
            "step_number": step,
            "metrics": metrics,
        }

    return render


def _metric_name(name: str) -> str:
    """Hone's ``train/loss`` and ``eval/loss`` as OpenAI's ``train_loss`` and ``valid_loss``."""
    split, _, rest = name.partition("/")
    return f"{'valid' if split == 'eval' else split}_{rest}" if rest else name
