"""Personal access tokens: ``hone_pat_`` + 43 characters of randomness (256 bits).

Only the token's sha256 is stored; the token itself is shown once, when it is made. The
prefix makes a leaked token easy to recognise (and to scan for in code and logs).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from api.models import ApiToken
from jobs.models import Membership, Team

PREFIX = "hone_pat_"
TOKEN_PATTERN = re.compile(rf"^{PREFIX}[A-Za-z0-9_-]{{43}}$")
HINT_CHARS = len(PREFIX) + 4
# last_used_at is a hint for people, not an audit log: write it at most once a minute.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(*, user, team: Team, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user`` in ``team``; returns the record and the token (shown once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        token_hash=digest(token),
        hint=token[:HINT_CHARS],
        expires_at=expires_at,
    )
    return record, token


def find(token: str) -> ApiToken | None:
    """The usable token record for ``token``, or None (unknown, malformed, revoked or expired).

    One query brings the token, its user and team, and the user's current role in that team
    (``role``: None when they are no longer a member)."""
    if not TOKEN_PATTERN.match(token):
        return None
    role = Membership.objects.filter(user=OuterRef("user"), team=OuterRef("team")).values("role")[:1]
    found = ApiToken.objects.select_related("user", "team").annotate(role=Subquery(role))
    record = found.filter(token_hash=digest(token)).first()
    if record is None or not record.is_usable():
        return None
    return record


def touch(record: ApiToken) -> None:
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = now


def revoke(record: ApiToken) -> bool:
    """Revoke a token; True if this call revoked it (it was not revoked already)."""
    changed = ApiToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    record.refresh_from_db(fields=["revoked_at"])
    return bool(changed)
