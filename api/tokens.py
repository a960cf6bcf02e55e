"""Personal access tokens: ``hone_pat_`` + 43 characters of randomness (256 bits).

Only the token's sha256 is stored; the token itself is shown once, when it is made. The
prefix makes a leaked token easy to recognise (and to scan for in code and logs).
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import Col
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

    Every API request runs this, so it is one hand-built query (the ORM's compiling and
    building cost several times the query): the token, its user and team, and the user's
    current role in that team as ``role`` (None when they are no longer a member)."""
    if not TOKEN_PATTERN.match(token):
        return None
    sql, models = _lookup()
    row = _fetch_one(sql, [digest(token)])
    if row is None:
        return None
    values = iter(row)
    record, user, team = (_from_row(model, fields, values) for model, fields in models)
    record.role = next(values)
    record.user, record.team = user, team
    return record if record.is_usable() else None


@functools.cache
def _lookup() -> tuple[str, list[tuple[type[Model], list[tuple[Field, Col, list]]]]]:
    """The SELECT for ``find``, from the models' own fields (so it follows their changes), and
    for each field the converters the ORM would apply to its value on this database."""
    quote = connection.ops.quote_name
    tables = [(ApiToken, "t"), (get_user_model(), "u"), (Team, "tm")]
    models, columns = [], []
    for model, alias in tables:
        fields = []
        for field in model._meta.concrete_fields:
            column = field.get_col(alias)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            fields.append((field, column, converters))
            columns.append(f"{alias}.{quote(field.column)}")
        models.append((model, fields))
    table = {model: quote(model._meta.db_table) for model in (ApiToken, get_user_model(), Team, Membership)}
    sql = (
        f"SELECT {', '.join(columns)}, m.{quote('role')} FROM {table[ApiToken]} t "
        f"JOIN {table[get_user_model()]} u ON u.id = t.user_id "
        f"JOIN {table[Team]} tm ON tm.id = t.team_id "
        f"LEFT JOIN {table[Membership]} m ON m.user_id = t.user_id AND m.team_id = t.team_id "
        "WHERE t.token_hash = %s"
    )
    return sql, models


def _fetch_one(sql: str, params: list) -> tuple | None:
    """On PostgreSQL, a prepared statement: planned once per connection, not once per request
    (planning this four-table join costs more than running it)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()


def _from_row(model: type[Model], fields: list[tuple[Field, Col, list]], values) -> Model:
    """A model instance from its columns' values, converted as the ORM converts them."""
    row = []
    for _field, column, converters in fields:
        value = next(values)
        for converter in converters:
            value = converter(value, column, connection)
        row.append(value)
    return model.from_db(connection.alias, [field.attname for field, _, _ in fields], row)


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
