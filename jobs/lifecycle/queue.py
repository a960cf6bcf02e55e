"""The queue: which queued job starts next, whether its team's quotas allow it, and why the
others wait.

Order: priority (higher first; operators set it), then fair share across teams (the team
with the least recent usage first: GPU-seconds over the last ``FAIR_SHARE_WINDOW``, then
attempt-seconds, so CPU-only installations share fairly too), then age (older first).

A job starts when its compute profile is not held and its team may use it, its team is
under its storage quota and (for jobs that use GPUs) its monthly GPU-hours, starting it keeps
the team within its concurrent-GPU quota, and its profile has a free slot (local executor:
the profile's ``slots``; Kubernetes: ``HONE_K8S_MAX_LIVE_ATTEMPTS`` over the cluster). A job
that cannot start is passed over, never waited on, so it does not hold up other teams.

Usage is accounted from attempts: (end − start) × the GPUs the attempt held, clipped to the
window; a running attempt counts up to now. Attempts that hold GPUs but have not started
running (a pod waiting for a node) count against concurrent GPUs, not GPU-hours.

Race-free dispatch: the dispatcher (``services.dispatch``) calls ``lock()``, then
``next_to_start()``, then claims the job, all in one transaction. On PostgreSQL the lock is a
transaction-scoped advisory lock, so racing dispatchers choose, check and claim one after the
other, each seeing the attempts the one before it committed. On SQLite every transaction
begins IMMEDIATE (see settings), which already serialises writers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from jobs.models import Artifact, Attempt, ComputeProfile, Dataset, Job, Team

FAIR_SHARE_WINDOW = timedelta(days=7)
# pg_advisory_xact_lock key: the bytes of "honequeu". Any constant works; it only has to be
# the same for every dispatcher and unused by anything else.
LOCK_KEY = int.from_bytes(b"honequeu", "big")
STARTING_SOON = "next to start"


def lock() -> None:
    """Serialise dispatchers until the current transaction ends (call inside transaction.atomic())."""
    if not connection.in_atomic_block:
        raise RuntimeError("queue.lock() holds until commit: call it inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
    # SQLite: the transaction began IMMEDIATE and holds the database's write lock until commit.


@dataclass(frozen=True)
class Capacity:
    """A compute profile as the queue sees it."""

    key: int | None  # the profile's id; None: no profile exists at all
    name: str
    held: bool
    gpus: int
    slots: int | None  # None: the cluster-wide limit applies (Kubernetes)
    allowed: frozenset[int] | None  # team ids; None: every team


@dataclass
class Snapshot:
    """Everything the queue decides from, read once."""

    now: datetime
    profiles: dict[int | None, Capacity]
    default_profile: int | None
    live_total: int = 0
    live_by_profile: Counter = field(default_factory=Counter)
    live_gpus: Counter = field(default_factory=Counter)  # team id → GPUs its live attempts hold
    month_gpu_seconds: dict[int, float] = field(default_factory=dict)
    recent: dict[int, tuple[float, float]] = field(default_factory=dict)  # team → (GPU-s, s)
    storage: dict[int, int] = field(default_factory=dict)

    def profile_of(self, job: Job) -> Capacity:
        return self.profiles[job.profile_id if job.profile_id in self.profiles else self.default_profile]

    def fair_share_key(self, job: Job) -> tuple:
        gpu_seconds, seconds = self.recent.get(job.team_id, (0.0, 0.0))
        return (-job.priority, gpu_seconds, seconds, job.created_at, job.pk)


@dataclass(frozen=True)
class Verdict:
    job: Job
    position: int  # 1-based, in the order the dispatcher considers queued jobs
    total: int
    profile: Capacity
    reason: str  # empty: it may start now

    @property
    def gpus(self) -> int:
        return self.profile.gpus

    @property
    def start(self) -> bool:
        return not self.reason

    @property
    def text(self) -> str:
        """'3rd of 7 in the queue: waiting: team quota 4/4 GPUs in use'."""
        return f"{ordinal(self.position)} of {self.total} in the queue: {self.reason or STARTING_SOON}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --- what the queue decides ----------------------------------------------------------


def plan(now: datetime | None = None) -> list[Verdict]:
    """Every queued job in queue order, each with whether it may start now or why it waits.

    Jobs that may start reserve their slot and GPUs as the plan goes, so a later job sees
    the queue as it will be once the earlier ones have started."""
    snap = snapshot(now or timezone.now())
    jobs = list(Job.objects.filter(status=Job.Status.QUEUED).select_related("team"))
    if not jobs:
        return []
    add_usage(snap, {job.team_id: job.team for job in jobs})
    jobs.sort(key=snap.fair_share_key)
    verdicts = []
    for position, job in enumerate(jobs, start=1):
        profile = snap.profile_of(job)
        reason = waiting_reason(job, profile, snap)
        if not reason:
            snap.live_total += 1
            snap.live_by_profile[profile.key] += 1
            snap.live_gpus[job.team_id] += profile.gpus
        verdicts.append(Verdict(job, position, len(jobs), profile, reason))
    return verdicts


def waiting_reason(job: Job, profile: Capacity, snap: Snapshot) -> str:
    """Why ``job`` cannot start now, in the user's terms; empty if it can. A flat list of rules,
    in the order a user should hear them."""
    team, gpus = job.team, profile.gpus
    if profile.held:
        return f"waiting: compute profile {profile.name} is on hold"
    if profile.allowed is not None and team.pk not in profile.allowed:
        return f"waiting: team {team.name} may not use compute profile {profile.name}; ask an operator"
    if team.max_storage_bytes is not None and snap.storage.get(team.pk, 0) >= team.max_storage_bytes:
        used, limit = filesizeformat(snap.storage.get(team.pk, 0)), filesizeformat(team.max_storage_bytes)
        return f"waiting: team storage quota {used} of {limit} used; delete datasets or job outputs"
    if gpus and team.gpu_hours_per_month is not None:
        used_hours = snap.month_gpu_seconds.get(team.pk, 0.0) / 3600
        if used_hours >= team.gpu_hours_per_month:
            limit = team.gpu_hours_per_month
            return f"waiting: team quota {hours(used_hours)}/{limit} GPU-hours used this month"
    if gpus and team.max_gpus is not None:
        if gpus > team.max_gpus:
            plural = "s" if gpus > 1 else ""
            return (
                f"waiting: this job needs {gpus} GPU{plural} and team {team.name} may hold "
                f"{team.max_gpus}; ask an operator to raise the quota"
            )
        in_use = snap.live_gpus[team.pk]
        if in_use + gpus > team.max_gpus:
            needs = f"; this job needs {gpus}" if gpus > 1 else ""
            return f"waiting: team quota {in_use}/{team.max_gpus} GPUs in use{needs}"
    if profile.slots is None:
        cap = settings.HONE_K8S_MAX_LIVE_ATTEMPTS
        if snap.live_total >= cap:
            return f"waiting for a free slot ({snap.live_total}/{cap} attempts in the cluster)"
    elif (busy := snap.live_by_profile[profile.key]) >= profile.slots:
        return f"waiting for a free slot ({busy}/{profile.slots} in use on {profile.name})"
    return ""


def hours(value: float) -> str:
    return f"{value:.0f}" if value >= 100 or value == int(value) else f"{value:.1f}"


def next_to_start() -> Verdict | None:
    """The job to start now, or None; then every queued job's reason is recorded on it.

    The caller holds ``lock()`` in the transaction that claims the job."""
    verdicts = plan()
    chosen = next((v for v in verdicts if v.start), None)
    if chosen is None:
        record_reasons(verdicts)
    return chosen


def record_reasons(verdicts: list[Verdict]) -> None:
    by_reason: dict[str, list[int]] = defaultdict(list)
    for verdict in verdicts:
        by_reason[(verdict.reason or STARTING_SOON)[:200]].append(verdict.job.pk)
    for reason, ids in by_reason.items():
        Job.objects.filter(pk__in=ids, status=Job.Status.QUEUED).exclude(queue_reason=reason).update(
            queue_reason=reason
        )


def queue_positions() -> dict[int, Verdict]:
    """Job id → its place in the queue and why it waits, for every queued job (UI and API)."""
    return {verdict.job.pk: verdict for verdict in plan()}


# --- what it reads ----------------------------------------------------------------------


def snapshot(now: datetime) -> Snapshot:
    """The compute profiles and what their live attempts hold."""
    profiles, default = capacities()
    snap = Snapshot(now, profiles, default)
    live = Attempt.objects.filter(status__in=Attempt.LIVE)
    for team_id, profile_id, gpus in live.values_list("job__team_id", "job__profile_id", "gpu_count"):
        snap.live_total += 1
        snap.live_by_profile[profile_id if profile_id in profiles else default] += 1
        snap.live_gpus[team_id] += gpus
    return snap


def add_usage(snap: Snapshot, teams: dict[int, Team]) -> None:
    """What ``teams`` used: this month (where they have a GPU-hour quota), recently (fair share),
    and their storage (where they have a storage quota)."""
    now = snap.now
    monthly = [pk for pk, team in teams.items() if team.gpu_hours_per_month is not None]
    if monthly:
        snap.month_gpu_seconds = gpu_seconds(usage_since(month_start(now), now, monthly))
    recent = usage_since(now - FAIR_SHARE_WINDOW, now, teams)
    recent_gpu, recent_all = gpu_seconds(recent), seconds(recent)
    snap.recent = {pk: (recent_gpu.get(pk, 0.0), recent_all.get(pk, 0.0)) for pk in teams}
    limited = [pk for pk, team in teams.items() if team.max_storage_bytes is not None]
    if limited:
        snap.storage = storage_bytes(limited)


def capacities() -> tuple[dict[int | None, Capacity], int | None]:
    """Every compute profile as the queue sees it, and the default profile's key."""
    kubernetes = settings.HONE_EXECUTOR == "kubernetes"
    profiles: dict[int | None, Capacity] = {}
    default = None
    for p in ComputeProfile.objects.prefetch_related("allowed_teams"):
        allowed = frozenset(t.pk for t in p.allowed_teams.all()) or None
        slots = None if kubernetes else (settings.HONE_LOCAL_SLOTS if p.slots is None else p.slots)
        # An attempt holds nodes × GPUs per node: that is what quotas and GPU-hours count.
        profiles[p.pk] = Capacity(p.pk, p.name, p.is_held, p.total_gpus, slots, allowed)
        if p.name == settings.HONE_DEFAULT_PROFILE:
            default = p.pk
    if default is None:  # no default profile: jobs without one run with the installation's settings
        slots = None if kubernetes else settings.HONE_LOCAL_SLOTS
        profiles[None] = Capacity(None, settings.HONE_DEFAULT_PROFILE, False, 0, slots, None)
    return profiles, default


def month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_since(since: datetime, now: datetime, team_ids) -> dict[tuple[int, int], float]:
    """(team id, GPUs per attempt) → attempt-seconds between ``since`` and ``now``."""
    at_now, at_since = Value(now, output_field=DateTimeField()), Value(since, output_field=DateTimeField())
    end = Least(Coalesce(F("finished_at"), at_now), at_now)
    start = Greatest(F("started_at"), at_since)
    rows = (
        Attempt.objects.filter(job__team_id__in=list(team_ids), started_at__isnull=False, started_at__lt=now)
        .filter(Q(finished_at__gt=since) | Q(finished_at__isnull=True, status__in=Attempt.LIVE))
        .values("job__team_id", "gpu_count")
        .annotate(total=Sum(ExpressionWrapper(end - start, output_field=DurationField())))
    )
    return {
        (r["job__team_id"], r["gpu_count"]): max(r["total"].total_seconds(), 0.0) for r in rows if r["total"]
    }


def gpu_seconds(usage: dict[tuple[int, int], float]) -> dict[int, float]:
    totals: dict[int, float] = defaultdict(float)
    for (team, gpus), secs in usage.items():
        totals[team] += secs * gpus
    return dict(totals)


def seconds(usage: dict[tuple[int, int], float]) -> dict[int, float]:
    totals: dict[int, float] = defaultdict(float)
    for (team, _gpus), secs in usage.items():
        totals[team] += secs
    return dict(totals)


def storage_bytes(team_ids) -> dict[int, int]:
    """Team id → bytes of its datasets and job outputs."""
    totals: dict[int, int] = defaultdict(int)
    datasets = Dataset.objects.filter(team_id__in=team_ids).values("team_id").annotate(total=Sum("bytes"))
    artifacts = Artifact.objects.filter(job__team_id__in=team_ids).values("job__team_id")
    artifacts = artifacts.annotate(total=Sum("bytes"))
    for row in datasets:
        totals[row["team_id"]] += row["total"] or 0
    for row in artifacts:
        totals[row["job__team_id"]] += row["total"] or 0
    return dict(totals)


# --- per-team usage and limits (console, submissions) -----------------------------------


@dataclass(frozen=True)
class TeamUsage:
    team: Team
    gpus_in_use: int
    gpu_hours_this_month: float
    recent_gpu_hours: float  # over FAIR_SHARE_WINDOW: what fair share orders by
    storage_bytes: int
    queued: int
    running: int


def team_usage(teams: list[Team], now: datetime | None = None) -> list[TeamUsage]:
    now = now or timezone.now()
    ids = [t.pk for t in teams]
    month = gpu_seconds(usage_since(month_start(now), now, ids))
    recent = gpu_seconds(usage_since(now - FAIR_SHARE_WINDOW, now, ids))
    storage = storage_bytes(ids)
    live = Counter()
    for team_id, gpus in Attempt.objects.filter(status__in=Attempt.LIVE, job__team_id__in=ids).values_list(
        "job__team_id", "gpu_count"
    ):
        live[team_id] += gpus
    counts = Counter(
        (team_id, status)
        for team_id, status in Job.objects.filter(team_id__in=ids, status__in=Job.ACTIVE).values_list(
            "team_id", "status"
        )
    )
    return [
        TeamUsage(
            team=t,
            gpus_in_use=live[t.pk],
            gpu_hours_this_month=month.get(t.pk, 0.0) / 3600,
            recent_gpu_hours=recent.get(t.pk, 0.0) / 3600,
            storage_bytes=storage.get(t.pk, 0),
            queued=counts[(t.pk, Job.Status.QUEUED)],
            running=counts[(t.pk, Job.Status.STARTING)] + counts[(t.pk, Job.Status.RUNNING)],
        )
        for t in teams
    ]


def time_limit(job: Job, profile: ComputeProfile | None) -> int | None:
    """The longest an attempt of ``job`` may run: its profile's limit, capped by its team's quota."""
    limits = [s for s in (profile and profile.max_runtime_seconds, job.team.max_runtime_seconds) if s]
    return min(limits) if limits else None


def past_time_limit(attempt: Attempt, job: Job, profile: ComputeProfile | None) -> str:
    """Why a running attempt must stop now (it ran past its time limit), or empty."""
    limit = time_limit(job, profile)
    if limit is None or attempt.started_at is None:
        return ""
    if (timezone.now() - attempt.started_at).total_seconds() <= limit:
        return ""
    return (
        f"ran past its time limit of {limit} s (its compute profile's and its team's); "
        "choose a profile with a longer limit or train for fewer steps"
    )
