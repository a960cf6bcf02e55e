"""Who belongs to a team and with what role: add, change, remove. Owners do this (the views
check); these functions keep the one rule the views cannot, that a team always has an owner,
and record each change in the audit log."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from console import audit
from jobs.models import Membership, Team


class MembershipRefused(ValueError):
    """The change cannot be made; the message says why and what to do instead."""


def find_user(identifier: str):
    """The active account with this username or e-mail address (case-insensitive)."""
    identifier = identifier.strip()
    if not identifier:
        raise MembershipRefused("Enter the person's username or e-mail address.")
    users = get_user_model().objects.filter(is_active=True)
    matches = list(users.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier))[:2])
    if len(matches) != 1:
        if matches:
            raise MembershipRefused(f"More than one account uses {identifier}; enter the username instead.")
        raise MembershipRefused(f"No Hone account is called {identifier}; ask an operator to create one.")
    return matches[0]


def add_member(team: Team, identifier: str, role: str, *, by) -> Membership:
    if role not in Membership.Role.values:
        raise MembershipRefused(f"{role!r} is not a role; choose one of {', '.join(Membership.Role.values)}.")
    user = find_user(identifier)
    with transaction.atomic():
        existing = Membership.objects.filter(team=team, user=user).first()
        if existing:
            raise MembershipRefused(f"{user.get_username()} is already in {team.name} as {existing.role}.")
        membership = Membership.objects.create(team=team, user=user, role=role)
        audit.record(by, "team.member_add", team, details={"user": user.get_username(), "role": role})
    return membership


def change_role(membership: Membership, role: str, *, by) -> bool:
    """Give a member another role; False if they had it already."""
    if role not in Membership.Role.values:
        raise MembershipRefused(f"{role!r} is not a role; choose one of {', '.join(Membership.Role.values)}.")
    with transaction.atomic():
        current = _lock_team(membership)
        if current.role == role:
            return False
        if current.role == Membership.Role.OWNER:
            _keep_an_owner(current, f"{current.user.get_username()} is the team's only owner")
        Membership.objects.filter(pk=current.pk).update(role=role)
        details = {"user": current.user.get_username(), "from": current.role, "to": role}
        audit.record(by, "team.member_role", current.team, details=details)
    return True


def remove_member(membership: Membership, *, by) -> None:
    with transaction.atomic():
        current = _lock_team(membership)
        if current.role == Membership.Role.OWNER:
            _keep_an_owner(current, f"{current.user.get_username()} is the team's only owner")
        current.delete()
        details = {"user": current.user.get_username(), "role": current.role}
        audit.record(by, "team.member_remove", current.team, details=details)


def _lock_team(membership: Membership) -> Membership:
    """The membership as it is now, with the team's memberships locked: two owners demoting
    each other at once must not leave the team with none."""
    list(Membership.objects.select_for_update().filter(team_id=membership.team_id).values_list("pk"))
    return Membership.objects.select_related("user", "team").get(pk=membership.pk)


def _keep_an_owner(membership: Membership, why: str) -> None:
    others = Membership.objects.filter(team_id=membership.team_id, role=Membership.Role.OWNER)
    if not others.exclude(pk=membership.pk).exists():
        raise MembershipRefused(f"{why}: make someone else an owner first.")
