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

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jobs import gates
from jobs.assets import card_sections, lineage
from jobs.executors import registry
from jobs.executors.base import ExecutorUnavailable, Observation, Submission
from jobs.lifecycle import ingest, queue, specs, transitions
from jobs.models import Attempt, ComputeProfile, Job
from trainers.spec import EVENTS_TOKEN_ENV, SpecError
from trainers.spec_evaluate import JUDGE_KEY_ENV

log = logging.getLogger(__name__)

# 124: the attempt ran past its compute profile's time limit (Kubernetes DeadlineExceeded). Not
# retried: each attempt resumes from a checkpoint, so a retry would quietly extend the limit the
# operator set; the user sees the limit in the reason and picks a profile with a longer one.
RETRY_EXIT_CODES_NEVER = {2: "invalid input", 3: "out of memory", 124: "ran past its time limit"}
PREEMPTED_EXIT_CODE = 143
TIME_LIMIT_EXIT_CODE = 124
# A claimed attempt with no executor id this long after creation lost its dispatcher.
SUBMIT_TIMEOUT_SECONDS = 60
# Preemptions do not use up retries, but a job preempted this many times over stops.
MAX_PREEMPTIONS = 20


def compute_profile(job: Job) -> ComputeProfile | None:
    """The job's compute profile, or the installation's default (HONE_DEFAULT_PROFILE)."""
    return job.profile if job.profile_id else ComputeProfile.objects.default()


def profile_fields(profile: ComputeProfile | None) -> dict:
    if profile is None:
        return {}
    names = ("name", "gpu_type", "gpu_count", "cpu", "memory", "node_selector", "tolerations")
    return {n: getattr(profile, n) for n in names} | {
        "priority_class": profile.priority_class,
        "max_runtime_seconds": profile.max_runtime_seconds,
        "nodes": profile.nodes,
        "processes_per_node": profile.per_node,
    }


# A guard, not a limit anyone should meet: slots and quotas end a dispatch pass long before.
MAX_STARTS_PER_PASS = 500


def dispatch(job_id: int | None = None) -> Attempt | None:
    """Start queued jobs in queue order while slots and quotas allow: all that can start, or
    with ``job_id``, those up to and including that job; returns its attempt if this call
    started it. Safe to call any number of times, from any number of workers: choosing the
    next job, checking its team's quotas and claiming it happen in one transaction under the
    queue's lock (jobs/lifecycle/queue.py). Jobs left waiting get their reason."""
    for _ in range(MAX_STARTS_PER_PASS):
        with transaction.atomic():
            queue.lock()
            chosen = queue.next_to_start()
            attempt = _claim(chosen.job.pk, chosen.gpus) if chosen else None
        if chosen is None:
            return None
        if attempt is not None:
            submit(attempt)
            if attempt.job_id == job_id:
                return attempt
    return None


def _claim(job_id: int, gpu_count: int) -> Attempt | None:
    """Move a queued job to starting and create its next attempt (in the caller's transaction)."""
    claimed = transitions.move(
        job_id,
        to=Job.Status.STARTING,
        expected=Job.Status.QUEUED,
        attempt_count=F("attempt_count") + 1,
        error="",
        queue_reason="",
    )
    if not claimed:
        return None
    job = Job.objects.select_related("base_model", "dataset", "team").get(pk=job_id)
    resume = specs.latest_checkpoint(job)
    try:
        spec = specs.build_spec(job, job.attempt_count, resume)
    except Exception as exc:  # one job that can no longer run must never hold up the queue behind it
        _fail_unrunnable(job, exc)
        return None
    try:
        attempt = Attempt.objects.create(
            job=job,
            number=job.attempt_count,
            executor=registry.current().name,
            gpu_count=gpu_count,
            resumed_from=str(resume or ""),
        )
    except IntegrityError:
        raise RuntimeError(f"job {job_id} already has a live attempt") from None
    job.spec = spec
    job.save(update_fields=["spec"])
    return attempt


def _fail_unrunnable(job: Job, exc: Exception) -> None:
    """End a job whose spec cannot be built any more (an input changed or vanished since it was
    queued), with the reason; it was checked when it was created, so this is rare."""
    if isinstance(exc, SpecError):
        reason = f"the job can no longer run as it was set up: {str(exc).removeprefix('invalid job spec: ')}"
    else:
        log.exception("building the spec of job %s failed", job.pk)
        reason = f"the job could not be prepared to run: {exc}"
    transitions.move(
        job.pk, to=Job.Status.FAILED, expected=Job.Status.STARTING, finished_at=timezone.now(), error=reason
    )


def submit(attempt: Attempt) -> None:
    """Hand the attempt to the executor with a fresh events token (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    Attempt.objects.filter(pk=attempt.pk).update(token_hash=hashlib.sha256(token.encode()).hexdigest())
    job = attempt.job
    chosen = compute_profile(job)
    profile = profile_fields(chosen)
    if profile and (limit := queue.time_limit(job, chosen)):  # the team's maximum runtime caps the profile's
        profile["max_runtime_seconds"] = limit
    env = {EVENTS_TOKEN_ENV: token, **judge_endpoint_env(job.spec)}
    submission = Submission(job.pk, attempt.number, job.spec, env, team=job.team.slug, profile=profile)
    try:
        external_id = registry.current().submit(submission)
    except ExecutorUnavailable as exc:
        # Unknown whether it started: not a failure. The reconciler submits again (submitting is
        # idempotent) once the attempt is SUBMIT_TIMEOUT_SECONDS old, or finds it running.
        log.warning("submitting %s: %s; will try again", attempt, exc)
        return
    except Exception as exc:  # the executor refused: the attempt never ran
        log.exception("submitting %s failed", attempt)
        finish_attempt(attempt, Observation("exited", 1, f"the executor could not start it: {exc}"))
        return
    Attempt.objects.filter(pk=attempt.pk).update(external_id=external_id)


def judge_endpoint_env(spec: dict) -> dict[str, str]:
    """The judge endpoint's API key, for a job that judges with it: by environment, never in its spec
    (the Kubernetes executor puts the environment in the attempt's own Secret)."""
    judge = spec.get("judge") if spec.get("kind") == Job.Kind.EVALUATE else None
    if not judge or not judge.get("endpoint") or not settings.HONE_JUDGE_API_KEY:
        return {}
    return {JUDGE_KEY_ENV: settings.HONE_JUDGE_API_KEY}


def cancel(job: Job) -> bool:
    """Cancel a queued or running job. The reconciler stops its process and records the end."""
    # On commit, the move enqueues stopping its trainer (jobs.tasks.on_job_changed).
    return transitions.move(
        job.pk, to=Job.Status.CANCELLED, expected=Job.ACTIVE, finished_at=timezone.now(), eta_seconds=None
    )


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
    executor = registry.current()
    if hasattr(executor, "start_pass"):
        try:
            executor.start_pass()  # one listing of every attempt, instead of one request per attempt
        except ExecutorUnavailable as exc:
            log.warning("the executor cannot be reached (%s); will retry next cycle", exc)
            return
    live = Attempt.objects.filter(status__in=Attempt.LIVE).select_related("job__team", "job__profile")
    for attempt in live:
        try:
            reconcile_attempt(attempt)
        except Exception:
            log.exception("reconciling %s failed; will retry next cycle", attempt)
    try:
        dispatch()  # in queue order (priority, fair share, age), within slots and quotas
    except Exception:
        log.exception("dispatching from the reconciler failed; will retry next cycle")


def reconcile_attempt(attempt: Attempt) -> None:
    executor = registry.current()
    job = attempt.job
    sync_events(attempt)
    seen = executor.observe(job.pk, attempt.number)
    if seen.phase in ("pending", "running"):
        if seen.phase == "running":
            ingest.mark_running(attempt)
            overdue = attempt.started_at and queue.past_time_limit(attempt, job, compute_profile(job))
            if overdue:
                executor.cancel(job.pk, attempt.number, force=True)  # the local executor has no deadline
                finish_attempt(attempt, Observation("exited", TIME_LIMIT_EXIT_CODE, overdue))
                return
        # While it waits, the reason says for what ("0/3 nodes have nvidia.com/gpu"); cleared once running.
        Attempt.objects.filter(pk=attempt.pk, status__in=Attempt.LIVE).exclude(reason=seen.reason).update(
            reason=seen.reason
        )
        if job.status == Job.Status.CANCELLED:
            grace = timedelta(seconds=settings.HONE_CANCEL_GRACE_SECONDS)
            executor.cancel(job.pk, attempt.number, force=timezone.now() - job.finished_at > grace)
    elif seen.phase == "missing" and _never_submitted(attempt):
        # The dispatcher died, or the executor could not be reached, between claiming and
        # submitting. Never a failure: submit again once it is clearly not still in progress.
        if timezone.now() - attempt.created_at > timedelta(seconds=SUBMIT_TIMEOUT_SECONDS):
            submit(attempt)
    elif seen.phase in ("exited", "missing"):
        sync_events(attempt)  # the last lines written before it exited
        finish_attempt(attempt, seen)


def _never_submitted(attempt: Attempt) -> bool:
    return attempt.status == Attempt.Status.STARTING and not attempt.external_id


def sync_events(attempt: Attempt) -> None:
    """Read what the trainer printed since last time: recovers events lost in delivery."""
    events, offset = registry.current().read_events(attempt.job_id, attempt.number, attempt.events_offset)
    if offset == attempt.events_offset:
        return
    parsed = []
    for raw in events:
        try:
            parsed.append(ingest.parse_one(raw))
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
        card_sections.add_evaluation_sections(job)  # model cards, before the gate's section
        if gates.settle(job):  # a model that failed its promotion gate is not made a team model
            lineage.register_outputs(job)
        else:
            lineage.register_datasets(job)
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
        # Dispatched again once this commits (jobs.tasks.on_job_changed).
        transitions.move(job.pk, to=Job.Status.QUEUED, expected=live, eta_seconds=None)
        return
    transitions.move(
        job.pk,
        to=Job.Status.FAILED,
        expected=live,
        finished_at=timezone.now(),
        eta_seconds=None,
        error=reason,
    )
