"""Who is calling, for which team, and what they may do there.

Two ways in: ``Authorization: Bearer hone_pat_…`` (a personal access token, scoped to one
team) and the browser's session (with CSRF, acting for the team chosen in the UI). Either
way the caller acts with their *current* role in that team: a viewer's token cannot launch,
and a token stops working when its user leaves the team.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from api import tokens
from api.models import ApiToken
from hone import login
from jobs.models import Membership
from jobs.teams.access import current_membership

VIEWER_REFUSAL = "Viewers can look but not launch or change anything in this team."


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        wait = login.unknown_tokens_exceeded(request._request)
        if wait:
            raise exceptions.Throttled(
                wait, "Too many unknown tokens were sent from your address; wait and use a valid token."
            )
        record = tokens.find(parts[1].decode("latin-1"))
        if record is None:
            login.count_unknown_token(request._request)
            raise exceptions.AuthenticationFailed(
                "This token is unknown, revoked or expired; "
                "create a new one on the API tokens page (/settings/tokens/)."
            )
        if record.role is None or not record.user.is_active:
            raise exceptions.AuthenticationFailed(
                f"This token's user is no longer an active member of {record.team.name}."
            )
        record.membership = Membership(user=record.user, team=record.team, role=record.role)
        tokens.touch(record)
        return record.user, record

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="hone"'


def acting_membership(request: Request) -> Membership:
    """The membership the request acts with: the token's, or the session's chosen team."""
    cached = getattr(request, "_hone_membership", None)
    if cached is not None:
        return cached
    if isinstance(request.auth, ApiToken):
        membership = request.auth.membership
    else:
        try:
            membership = current_membership(request._request)
        except Http404:
            raise exceptions.PermissionDenied(
                "You are not a member of any team yet; ask an owner to add you."
            ) from None
    request._hone_membership = membership
    return membership


def principal(request: Request) -> str:
    """Whose requests these are, for rate limits and idempotency keys."""
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


class TeamMember(BasePermission):
    """Signed in (token or session) and a member of the team acted for."""

    def has_permission(self, request: Request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        acting_membership(request)
        return True


class CanLaunchOrReadOnly(BasePermission):
    message = VIEWER_REFUSAL

    def has_permission(self, request: Request, view) -> bool:
        return request.method in SAFE_METHODS or acting_membership(request).can_launch


class OwnerOrReadOnly(BasePermission):
    message = "Only the team's owners can change its webhooks."

    def has_permission(self, request: Request, view) -> bool:
        membership = acting_membership(request)
        return request.method in SAFE_METHODS or membership.role == Membership.Role.OWNER
