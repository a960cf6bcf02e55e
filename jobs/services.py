"""Job lifecycle: create, dispatch, reconcile, cancel.

Every transition is a conditional update (``UPDATE … WHERE status = <expected>``), so
applying one twice is a no-op, and PostgreSQL stays the source of truth. The reconciler
decides whether an attempt lived or died from what the executor observes, never from
events alone.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jobs import ingest, lineage, storage, transitions
from jobs.executors import registry
from jobs.executors.base import Observation, Submission
from jobs.models import Attempt, Dataset, Job, ModelAsset, Team
from trainers.spec import EVENTS_TOKEN_ENV, parse_spec

log = logging.getLogger(__name__)

RETRY_EXIT_CODES_NEVER = {2: "invalid input", 3: "out of memory"}
PREEMPTED_EXIT_CODE = 143
# A claimed attempt with no executor id this long after creation lost its dispatcher.
SUBMIT_TIMEOUT_SECONDS = 60
# Preemptions do not use up retries, but a job preempted this many times over stops.
MAX_PREEMPTIONS = 20


def output_dir(job: Job) -> Path:
    return storage.root() / "runs" / f"job-{job.pk}" / "output"


def create_training_job(
    *, team: Team, user, name: str, base_model: ModelAsset, dataset: Dataset, params: dict
) -> Job:
    """Create a queued training job; ``params`` holds validated {"lora": ..., "training": ...}."""
    job = Job.objects.create(
        team=team,
        created_by=user,
        name=name,
        kind=Job.Kind.TRAIN,
        method="lora",
        base_model=base_model,
        dataset=dataset,
        params=params,
        max_attempts=settings.HONE_MAX_ATTEMPTS,
    )
    lineage.record_inputs(job, models=[("base", base_model, None)], datasets=[("dataset", dataset)])
    transitions.record(job.pk, Job.Status.QUEUED)
    enqueue_dispatch(job.pk)
    return job


def enqueue_dispatch(job_id: int) -> None:
    from jobs.tasks import dispatch_job

    transaction.on_commit(lambda: dispatch_job.delay(job_id))


def latest_checkpoint(job: Job) -> Path | None:
    checkpoints = output_dir(job) / "checkpoints"
    found = [p for p in checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def spec_common(job: Job, attempt_number: int) -> dict:
    """The fields every kind of spec has: identity, output and where events go."""
    ingest_url = settings.HONE_INGEST_URL.rstrip("/")
    events_url = f"{ingest_url}/api/v1/attempts/{job.pk}/{attempt_number}/events" if ingest_url else None
    return {
        "kind": job.kind,
        "job_id": job.pk,
        "attempt": attempt_number,
        "output_dir": str(output_dir(job)),
        "events": {"url": events_url},
    }


def build_spec(job: Job, attempt_number: int, resume_from: Path | None) -> dict:
    """The validated spec of one attempt; raises SpecError naming the offending field."""
    if job.kind != Job.Kind.TRAIN:
        from jobs import kinds

        return parse_spec(spec_common(job, attempt_number) | kinds.spec_fields(job)).model_dump(mode="json")
    spec = spec_common(job, attempt_number) | {
        "base_model": model_ref(job.base_model),
        "dataset": dataset_ref(job.dataset),
        "method": job.method,
        **job.params,
        "resume_from": str(resume_from) if resume_from else None,
    }
    return parse_spec(spec).model_dump(mode="json")


def model_ref(model: ModelAsset) -> dict:
    return {"name": model.name, "path": model.path or None, "hub_id": model.hub_id or None}


def dataset_ref(dataset: Dataset) -> dict:
    return {
        "path": str(storage.resolve(dataset.location)),
        "sha256": dataset.sha256,
        "format": dataset.format,
        "task": dataset.task,
    }


def live_attempt_count() -> int:
    return Attempt.objects.filter(status__in=Attempt.LIVE).count()


def dispatch(job_id: int) -> Attempt | None:
    """Claim a queued job and submit its next attempt. Safe to call any number of times."""
    if live_attempt_count() >= settings.HONE_LOCAL_SLOTS:
        return None  # no free slot: it stays queued and the reconciler tries again
    with transaction.atomic():
        claimed = transitions.move(
            job_id,
            to=Job.Status.STARTING,
            expected=Job.Status.QUEUED,
            attempt_count=F("attempt_count") + 1,
            error="",
        )
        if not claimed:
            return None
        job = Job.objects.select_related("base_model", "dataset").get(pk=job_id)
        resume = latest_checkpoint(job)
        try:
            attempt = Attempt.objects.create(
                job=job,
                number=job.attempt_count,
                executor=registry.current().name,
                resumed_from=str(resume or ""),
            )
        except IntegrityError:
            raise RuntimeError(f"job {job_id} already has a live attempt") from None
        job.spec = build_spec(job, attempt.number, resume)
        job.save(update_fields=["spec"])
    submit(attempt)
    return attempt


def submit(attempt: Attempt) -> None:
    """Hand the attempt to the executor with a fresh events token (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    Attempt.objects.filter(pk=attempt.pk).update(token_hash=hashlib.sha256(token.encode()).hexdigest())
    job = attempt.job
    submission = Submission(job.pk, attempt.number, job.spec, {EVENTS_TOKEN_ENV: token})
    try:
        external_id = registry.current().submit(submission)
    except Exception as exc:  # the executor refused: the attempt never ran
        log.exception("submitting %s failed", attempt)
        finish_attempt(attempt, Observation("exited", 1, f"the executor could not start it: {exc}"))
        return
    Attempt.objects.filter(pk=attempt.pk).update(external_id=external_id)


def cancel(job: Job) -> bool:
    """Cancel a queued or running job. The reconciler stops its process and records the end."""
    with transaction.atomic():
        changed = transitions.move(
            job.pk, to=Job.Status.CANCELLED, expected=Job.ACTIVE, finished_at=timezone.now(), eta_seconds=None
        )
        if changed:
            from jobs.tasks import stop_attempts

            transaction.on_commit(lambda: stop_attempts.delay(job.pk))
    return bool(changed)


def stop_attempts(job_id: int) -> None:
    executor = registry.current()
    for attempt in Attempt.objects.filter(job_id=job_id, status__in=Attempt.LIVE):
        executor.cancel(job_id, attempt.number)


def verify_token(attempt: Attempt, token: str) -> bool:
    import hmac

    if not attempt.token_hash or not token:
        return False
    return hmac.compare_digest(attempt.token_hash, hashlib.sha256(token.encode()).hexdigest())


# --- reconciliation ---------------------------------------------------------------


def reconcile() -> None:
    """One level-triggered pass: sync every live attempt with what the executor sees."""
    for attempt in Attempt.objects.filter(status__in=Attempt.LIVE).select_related("job"):
        try:
            reconcile_attempt(attempt)
        except Exception:
            log.exception("reconciling %s failed; will retry next cycle", attempt)
    for job_id in (
        Job.objects.filter(status=Job.Status.QUEUED).order_by("created_at").values_list("pk", flat=True)
    ):
        if dispatch(job_id) is None and live_attempt_count() >= settings.HONE_LOCAL_SLOTS:
            break


def reconcile_attempt(attempt: Attempt) -> None:
    executor = registry.current()
    job = attempt.job
    sync_events(attempt)
    seen = executor.observe(job.pk, attempt.number)
    if seen.phase == "running":
        ingest.mark_running(attempt)
        if job.status == Job.Status.CANCELLED:
            grace = timedelta(seconds=settings.HONE_CANCEL_GRACE_SECONDS)
            executor.cancel(job.pk, attempt.number, force=timezone.now() - job.finished_at > grace)
    elif seen.phase == "missing" and _never_submitted(attempt):
        submit(attempt)  # the dispatcher died between claiming and submitting
    elif seen.phase in ("exited", "missing"):
        sync_events(attempt)  # the last lines written before it exited
        finish_attempt(attempt, seen)


def _never_submitted(attempt: Attempt) -> bool:
    stale = timezone.now() - attempt.created_at > timedelta(seconds=SUBMIT_TIMEOUT_SECONDS)
    return attempt.status == Attempt.Status.STARTING and not attempt.external_id and stale


def sync_events(attempt: Attempt) -> None:
    """Read what the trainer printed since last time: recovers events lost in delivery."""
    events, offset = registry.current().read_events(attempt.job_id, attempt.number, attempt.events_offset)
    if offset == attempt.events_offset:
        return
    parsed = []
    for raw in events:
        try:
            parsed.append(ingest._parse(raw, 0))
        except ingest.BadEvents as exc:
            log.warning("%s: skipping bad event line: %s", attempt, exc)
    ingest.ingest(attempt, parsed)
    Attempt.objects.filter(pk=attempt.pk).update(events_offset=offset)
    attempt.events_offset = offset


def _failure_reason(attempt: Attempt, seen: Observation) -> str:
    finished = attempt.events.filter(kind="finished").order_by("-seq").first()
    error = (finished.payload.get("error") or "") if finished else ""
    if not error and seen.exit_code not in (0, None):
        tail = registry.current().read_logs(attempt.job_id, attempt.number, tail_bytes=2000).strip()
        error = tail.splitlines()[-1] if tail else ""
    parts = [seen.reason, error]
    return ": ".join(p for p in parts if p) or "the trainer failed without saying why"


def finish_attempt(attempt: Attempt, seen: Observation) -> None:
    """Record how an attempt ended and move its job on: done, retried, or failed."""
    job = Job.objects.get(pk=attempt.job_id)
    now = timezone.now()
    code = seen.exit_code
    if job.status == Job.Status.CANCELLED:
        status, reason = Attempt.Status.CANCELLED, "cancelled by a user"
    elif code == 0:
        status, reason = Attempt.Status.SUCCEEDED, ""
    elif code == PREEMPTED_EXIT_CODE:
        status, reason = Attempt.Status.PREEMPTED, "preempted; will resume from the last checkpoint"
    else:
        status, reason = Attempt.Status.FAILED, _failure_reason(attempt, seen)
    with transaction.atomic():
        ended = Attempt.objects.filter(pk=attempt.pk, status__in=Attempt.LIVE).update(
            status=status, exit_code=code, reason=reason, finished_at=now
        )
        if ended:
            _advance_job(job, attempt, status, code, reason)


def _advance_job(job: Job, attempt: Attempt, status: str, code: int | None, reason: str) -> None:
    live = (Job.Status.STARTING, Job.Status.RUNNING)
    if status == Attempt.Status.SUCCEEDED:
        lineage.register_outputs(job)
        transitions.move(
            job.pk,
            to=Job.Status.SUCCEEDED,
            expected=live,
            finished_at=timezone.now(),
            eta_seconds=None,
            step=F("total_steps"),
        )
        return
    if status == Attempt.Status.CANCELLED:
        return
    failures = job.attempts.filter(status=Attempt.Status.FAILED).count()
    preemptions = job.attempts.filter(status=Attempt.Status.PREEMPTED).count()
    retry = code not in RETRY_EXIT_CODES_NEVER and failures < job.max_attempts
    if status == Attempt.Status.PREEMPTED and preemptions >= MAX_PREEMPTIONS:
        retry, reason = False, f"preempted {preemptions} times; giving up"
    if retry:
        if transitions.move(job.pk, to=Job.Status.QUEUED, expected=live, eta_seconds=None):
            enqueue_dispatch(job.pk)
        return
    transitions.move(
        job.pk,
        to=Job.Status.FAILED,
        expected=live,
        finished_at=timezone.now(),
        eta_seconds=None,
        error=reason,
    )
