"""The operator console (/console/): queue, capacity, usage, profiles, orphans, audit log.

Staff only: anyone else gets a 404 for every page and action, so the console does not
announce itself. Each action looks up its object, calls one function in
``console.operations`` (which writes the audit entry) and redirects back.
"""

from __future__ import annotations

from collections import defaultdict
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from console import cluster, operations
from console.models import AuditLog
from console.tasks import request_cluster_refresh
from jobs.lifecycle import queue
from jobs.models import Attempt, ComputeProfile, Job, Team
from jobs.web.text import human_duration

RECENT_FAILURES = 20
AUDIT_PER_PAGE = 100


def staff_only(view):
    """Signed-in staff only; a 404 for everyone else (the anonymous go to the login page)."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


def is_kubernetes() -> bool:
    return settings.HONE_EXECUTOR == "kubernetes"


# --- pages ------------------------------------------------------------------------------


@staff_only
def queue_page(request: HttpRequest) -> HttpResponse:
    context = {"profiles": queue_by_profile(), "failed": recent_failures(), "section": "queue"}
    context["draining"] = context["profiles"] and all(p["capacity"].held for p in context["profiles"])
    template = "console/_queue.html" if request.headers.get("HX-Request") == "true" else "console/queue.html"
    return render(request, template, context)


def queue_by_profile() -> list[dict]:
    """Per compute profile: its pending jobs (with place and reason) and its running attempts."""
    verdicts = queue.plan()
    snap = queue.snapshot(timezone.now())
    pending: dict[int | None, list] = defaultdict(list)
    for verdict in verdicts:
        pending[verdict.profile.key].append(verdict)
    running: dict[int | None, list] = defaultdict(list)
    live = Attempt.objects.filter(status__in=Attempt.LIVE).select_related("job__team").order_by("created_at")
    for attempt in live:
        key = attempt.job.profile_id if attempt.job.profile_id in snap.profiles else snap.default_profile
        started = attempt.started_at
        attempt.ran_text = human_duration((timezone.now() - started).total_seconds()) if started else ""
        running[key].append(attempt)
    return [
        {
            "capacity": capacity,
            "pending": pending[key],
            "running": running[key],
            "in_use": snap.live_by_profile[key],
        }
        for key, capacity in sorted(snap.profiles.items(), key=lambda item: item[1].name)
    ]


def recent_failures():
    since = timezone.now() - queue.FAIR_SHARE_WINDOW
    failed = Job.objects.filter(status=Job.Status.FAILED, finished_at__gte=since).select_related("team")
    return failed.order_by("-finished_at")[:RECENT_FAILURES]


@staff_only
def capacity_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"section": "capacity", "kubernetes": is_kubernetes()}
    if is_kubernetes():
        context["view"] = _cluster_view()
        context["cap"] = settings.HONE_K8S_MAX_LIVE_ATTEMPTS
        context["live"] = Attempt.objects.filter(status__in=Attempt.LIVE).count()
    else:
        snap = queue.snapshot(timezone.now())
        context["slots"] = [
            {"capacity": c, "in_use": snap.live_by_profile[key]}
            for key, c in sorted(snap.profiles.items(), key=lambda item: item[1].name)
        ]
    return render(request, "console/capacity.html", context)


def _cluster_view() -> cluster.ClusterView | None:
    """The worker's latest look at the cluster; asks for a fresh one when it is old."""
    view = cluster.latest()
    if view is None or view.age_seconds > cluster.FRESH_SECONDS:
        request_cluster_refresh()
    return view


@staff_only
def usage_page(request: HttpRequest) -> HttpResponse:
    rows = []
    for usage in queue.team_usage(list(Team.objects.order_by("name"))):
        team = usage.team
        rows.append({
            "usage": usage,
            "bars": [
                _bar("GPUs in use", usage.gpus_in_use, team.max_gpus),
                _bar("GPU-hours this month", round(usage.gpu_hours_this_month, 1), team.gpu_hours_per_month),
                _bar("Storage", usage.storage_bytes, team.max_storage_bytes, as_bytes=True),
            ],
            "runtime": human_duration(team.max_runtime_seconds) if team.max_runtime_seconds else "",
        })
    context = {"rows": rows, "section": "usage", "window_days": queue.FAIR_SHARE_WINDOW.days}
    return render(request, "console/usage.html", context)


def _bar(label: str, used: float, limit: int | None, *, as_bytes: bool = False) -> dict:
    """One usage bar; the meter turns amber from 75 % of the quota and red from 90 %."""
    over = limit is not None and used >= limit
    bar = {"label": label, "used": used, "limit": limit, "as_bytes": as_bytes, "over": over}
    if limit:
        bar |= {"low": limit * 0.75, "high": limit * 0.9}
    return bar


@staff_only
def profiles_page(request: HttpRequest) -> HttpResponse:
    profiles = list(ComputeProfile.objects.prefetch_related("allowed_teams").order_by("name"))
    for profile in profiles:
        profile.limit_text = human_duration(profile.max_runtime_seconds)
    context = {"profiles": profiles, "section": "profiles", "default_profile": settings.HONE_DEFAULT_PROFILE}
    context["running"] = Attempt.objects.filter(status__in=Attempt.LIVE).count()
    return render(request, "console/profiles.html", context)


@staff_only
def orphans_page(request: HttpRequest) -> HttpResponse:
    context = {"section": "orphans", "kubernetes": is_kubernetes()}
    if is_kubernetes():
        context["view"] = _cluster_view()
    return render(request, "console/orphans.html", context)


@staff_only
def audit_page(request: HttpRequest) -> HttpResponse:
    entries = AuditLog.objects.select_related("who")
    action = request.GET.get("action", "")
    if action:
        entries = entries.filter(action__startswith=action)
    query = request.GET.get("q", "").strip()[:100]
    if query:
        entries = entries.filter(Q(who_name__icontains=query) | Q(target__icontains=query))
    page = Paginator(entries, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    prefixes = ["job.", "profile.", "console.", "team.", "admin."]
    context = {"page": page, "action": action, "q": query, "prefixes": prefixes, "section": "audit"}
    return render(request, "console/audit.html", context)


# --- actions ------------------------------------------------------------------------------


def _back(request: HttpRequest, default: str = "console:queue") -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


def _refusable(action):
    """Turn an OperationRefused into a message on the page the operator came from."""

    @wraps(action)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return action(request, *args, **kwargs)
        except operations.OperationRefused as exc:
            messages.error(request, str(exc))
            return _back(request)

    return wrapped


@staff_only
@require_POST
@_refusable
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("team"), pk=pk)
    operations.cancel_job(job, by=request.user)
    messages.success(request, f"Job #{job.pk} is cancelled; its trainer is being stopped.")
    return _back(request)


@staff_only
@require_POST
@_refusable
def job_requeue(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("team"), pk=pk)
    messages.success(request, operations.requeue_job(job, by=request.user).capitalize() + ".")
    return _back(request)


@staff_only
@require_POST
@_refusable
def job_priority(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("team"), pk=pk)
    try:
        priority = int(request.POST.get("priority", ""))
    except ValueError:
        raise operations.OperationRefused("priority must be a whole number, e.g. 10 or -5") from None
    operations.set_priority(job, priority, by=request.user)
    messages.success(request, f"Job #{job.pk} now has priority {priority}.")
    return _back(request)


@staff_only
@require_POST
def profile_hold(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(ComputeProfile, pk=pk)
    if operations.hold_profile(profile, by=request.user):
        messages.success(request, f"{profile.name} is on hold: nothing new starts; running attempts go on.")
    else:
        messages.info(request, f"{profile.name} was already on hold.")
    return _back(request, "console:profiles")


@staff_only
@require_POST
def profile_resume(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(ComputeProfile, pk=pk)
    if operations.resume_profile(profile, by=request.user):
        messages.success(request, f"{profile.name} is starting jobs again.")
    else:
        messages.info(request, f"{profile.name} was not on hold.")
    return _back(request, "console:profiles")


@staff_only
@require_POST
def drain(request: HttpRequest) -> HttpResponse:
    held = operations.drain(by=request.user)
    running = Attempt.objects.filter(status__in=Attempt.LIVE).count()
    messages.success(
        request,
        f"Draining: {len(held)} profile(s) put on hold; nothing new starts. "
        f"{running} attempt(s) still running will finish.",
    )
    return _back(request, "console:profiles")


@staff_only
@require_POST
def resume_all(request: HttpRequest) -> HttpResponse:
    resumed = operations.resume_all(by=request.user)
    messages.success(request, f"{len(resumed)} profile(s) resumed; queued jobs start again.")
    return _back(request, "console:profiles")
