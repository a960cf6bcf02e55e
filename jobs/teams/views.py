"""The team page (/team/): who is in the current team and with what role. Everyone in the team
can look; owners add people, change roles and remove people. Members of several teams switch
between them here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs.models import Membership, Team
from jobs.teams import membership as members
from jobs.teams import retention_task
from jobs.teams.access import SESSION_KEY, current_membership, memberships

ROLE_NAMES = {
    Membership.Role.OWNER: "an owner",
    Membership.Role.MEMBER: "a member",
    Membership.Role.VIEWER: "a viewer",
}
ROLE_HELP = {
    Membership.Role.OWNER: "everything members can, and manage the team's people and webhooks",
    Membership.Role.MEMBER: "upload data, launch, cancel and retry jobs",
    Membership.Role.VIEWER: "look at everything, launch nothing",
}


def require_owner(membership: Membership) -> None:
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only the team's owners can add or remove people or change roles.")


@login_required
def team_page(request: HttpRequest) -> HttpResponse:
    mine = current_membership(request)
    people = mine.team.memberships.select_related("user").order_by("role", "user__username")
    context = {
        "membership": mine,
        "my_role": ROLE_NAMES.get(mine.role, mine.role),
        "people": people,
        "is_owner": mine.role == Membership.Role.OWNER,
        "roles": [(role, label, ROLE_HELP[role]) for role, label in Membership.Role.choices],
        "my_teams": memberships(request.user),
        "presets": mine.team.presets.select_related("source_job"),
        "can_launch": mine.can_launch,
        "retention_tasks": retention_task.options(mine.team),
    }
    return render(request, "teams/team.html", context)


def _owner_and_member(request: HttpRequest, pk: int) -> tuple[Membership, Membership]:
    mine = current_membership(request)
    require_owner(mine)
    return mine, get_object_or_404(Membership.objects.select_related("user"), pk=pk, team=mine.team)


@login_required
@require_POST
def member_add(request: HttpRequest) -> HttpResponse:
    mine = current_membership(request)
    require_owner(mine)
    who, role = request.POST.get("who", ""), request.POST.get("role", Membership.Role.MEMBER)
    try:
        added = members.add_member(mine.team, who, role, by=request.user)
    except members.MembershipRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{added.user.get_username()} is now in {mine.team.name} as {added.role}.")
    return redirect("teams:team")


@login_required
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    _mine, member = _owner_and_member(request, pk)
    role = request.POST.get("role", "")
    try:
        changed = members.change_role(member, role, by=request.user)
    except members.MembershipRefused as exc:
        messages.error(request, str(exc))
    else:
        if changed:
            messages.success(request, f"{member.user.get_username()} is now {role}.")
    return redirect("teams:team")


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    mine, member = _owner_and_member(request, pk)
    try:
        members.remove_member(member, by=request.user)
    except members.MembershipRefused as exc:
        messages.error(request, str(exc))
        return redirect("teams:team")
    messages.success(request, f"{member.user.get_username()} is no longer in {mine.team.name}.")
    if member.pk == mine.pk:  # you left the team: show the next one you are in, if any
        request.session.pop(SESSION_KEY, None)
        return redirect("teams:team" if memberships(request.user) else "jobs:job_list")
    return redirect("teams:team")


@login_required
@require_POST
def evaluation_settings(request: HttpRequest) -> HttpResponse:
    """Owners set how much general-text perplexity may rise in training before the forgetting report
    warns (jobs/web/evaluation_report.py), and the multiple-choice task it measures too."""
    mine = current_membership(request)
    require_owner(mine)
    raw = request.POST.get("retention_warn_percent", "").strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1000.0:
        shown = raw or "nothing"
        messages.error(request, f"Retention warning: give a percentage from 0 to 1000, not {shown}.")
        return redirect("teams:team")
    task = request.POST.get("retention_task")
    if task is not None and (why := retention_task.choose(mine.team, task)):  # saved unless refused
        messages.error(request, why)
        return redirect("teams:team")
    Team.objects.filter(pk=mine.team_id).update(retention_warn_percent=value)
    flagged = f"Training that raises general-text perplexity by more than {value:g} % is flagged."
    messages.success(request, flagged)
    return redirect("teams:team")


@login_required
@require_POST
def team_switch(request: HttpRequest) -> HttpResponse:
    chosen = request.POST.get("team", "")
    mine = {str(m.team_id): m for m in memberships(request.user)}
    if chosen not in mine:
        raise Http404("You are not in that team.")
    request.session[SESSION_KEY] = mine[chosen].team_id
    messages.success(request, f"You are now working in {mine[chosen].team.name}.")
    return redirect("teams:team" if request.POST.get("next") == "team" else "jobs:job_list")
