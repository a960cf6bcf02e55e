"""Which team a request acts for, and what the user may do there."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from jobs.models import Membership

SESSION_KEY = "team_id"


def memberships(user) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))


def current_membership(request: HttpRequest) -> Membership:
    """The membership for the team chosen in the session, else the user's first team."""
    mine = memberships(request.user)
    if not mine:
        raise Http404("You are not a member of any team yet; ask an owner to add you.")
    chosen = request.session.get(SESSION_KEY)
    return next((m for m in mine if m.team_id == chosen), mine[0])


def require_launch(membership: Membership) -> None:
    if not membership.can_launch:
        raise PermissionDenied("Viewers can look but not launch or change anything in this team.")
