"""Personal access tokens: made on the API tokens page and shown once, stored hashed, one team,
optional expiry, revocable; Bearer auth; the browser session with CSRF; /api/v1/tokens."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from api import tokens
from api.models import ApiToken
from jobs.models import Membership
from tests.api.helpers import client_for, problem, token_for


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_token_acts_as_its_user_in_its_team(member, team):
    body = bearer(token_for(member, team)).get("/api/v1/me").json()
    assert body["user"]["username"] == "member"
    assert body["team"] == {**body["team"], "id": team.pk, "role": "member"}
    assert (body["auth"], body["can_launch"], body["token"]["state"]) == ("token", True, "active")


@pytest.mark.parametrize(
    "header",
    ["Bearer hone_pat_" + "x" * 43, "Bearer nonsense", "Bearer", "Bearer a b", "Token abc"],
)
def test_unknown_or_malformed_credentials_are_401s(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/jobs")
    problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="hone"'


def test_no_credentials_is_a_401(client, db):
    assert problem(client.get("/api/v1/jobs"), 401)["title"] == "Unauthorized"


def test_an_expired_token_is_refused(member, team):
    token = token_for(member, team, expires_at=timezone.now() - timedelta(seconds=1))
    assert "revoked or expired" in problem(bearer(token).get("/api/v1/me"), 401)["detail"]


def test_a_revoked_token_is_refused_at_once(member, team):
    token = token_for(member, team)
    client = bearer(token)
    assert client.get("/api/v1/me").status_code == 200
    tokens.revoke(ApiToken.objects.get(token_hash=tokens.digest(token)))
    problem(client.get("/api/v1/me"), 401)


def test_a_token_stops_working_when_its_user_leaves_the_team(member, team):
    client = client_for(member, team)
    Membership.objects.filter(user=member).delete()
    assert "no longer an active member" in problem(client.get("/api/v1/me"), 401)["detail"]


def test_a_demoted_user_loses_launch_rights_with_the_same_token(member, team, tiny_model, dataset):
    client = client_for(member, team)
    Membership.objects.filter(user=member).update(role="viewer")
    body = {"base_model": tiny_model.pk, "dataset": dataset.pk}
    problem(client.post("/api/v1/jobs", body, format="json"), 403)


def test_last_used_is_recorded_at_most_once_a_minute(member, team):
    token = token_for(member, team)
    record = ApiToken.objects.get(token_hash=tokens.digest(token))
    assert record.last_used_at is None
    bearer(token).get("/api/v1/me")
    record.refresh_from_db()
    first = record.last_used_at
    assert first is not None
    bearer(token).get("/api/v1/me")
    record.refresh_from_db()
    assert record.last_used_at == first


def test_the_session_works_and_needs_csrf_for_changes(member, team, tiny_model, dataset):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.get("/api/v1/me").json()["auth"] == "session"
    body = {"base_model": tiny_model.pk, "dataset": dataset.pk}
    assert "CSRF" in problem(client.post("/api/v1/jobs", body, format="json"), 403)["detail"]


def test_a_user_without_a_team_is_told_so(client, django_user_model):
    user = django_user_model.objects.create_user("loner", password="pw")
    client.force_login(user)
    assert "not a member of any team" in problem(client.get("/api/v1/me"), 403)["detail"]


# --- storage and logging ----------------------------------------------------------------


def test_tokens_are_stored_only_as_a_hash_and_never_logged(member, team, caplog):
    caplog.set_level(logging.DEBUG)
    token = token_for(member, team)
    bearer(token).get("/api/v1/me")
    bearer(token).get("/api/v1/jobs/999999")  # a 404, which Django logs
    bearer(token + "x").get("/api/v1/me")  # a 401, likewise
    record = ApiToken.objects.get()
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith("hone_pat_") and record.hint == token[:13]
    assert token not in caplog.text and token[13:] not in caplog.text
    secret_part = token[len(tokens.PREFIX) :]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE'"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', [f"%{secret_part}%"])
            assert cursor.fetchone()[0] == 0, f"the token is stored in {table}"


# --- the page -----------------------------------------------------------------------------


def test_the_page_shows_a_new_token_once(client, member, team):
    client.force_login(member)
    response = client.post("/settings/tokens/", {"name": "ci", "expires_in": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(
        r'<code class="pre hash" id="new-token">([^<]+)</code>', response.content.decode()
    ).group(1)
    assert bearer(token).get("/api/v1/me").status_code == 200
    record = ApiToken.objects.get()
    assert record.name == "ci" and record.team == team and record.user == member
    assert timedelta(days=29) < record.expires_at - timezone.now() <= timedelta(days=30)
    again = client.get("/settings/tokens/").content.decode()
    assert token not in again and record.hint in again


def test_the_page_revokes_own_tokens_only(client, member, owner, team):
    token_for(owner, team, name="owners")
    mine = token_for(member, team, name="mine")
    client.force_login(member)
    record = ApiToken.objects.get(name="mine")
    assert client.post(f"/settings/tokens/{record.pk}/revoke/").status_code == 302
    assert problem(bearer(mine).get("/api/v1/me"), 401)
    owners = ApiToken.objects.get(name="owners")
    assert client.post(f"/settings/tokens/{owners.pk}/revoke/").status_code == 404
    owners.refresh_from_db()
    assert owners.revoked_at is None


def test_the_page_needs_a_login(client, db):
    assert client.get("/settings/tokens/").status_code == 302


# --- /api/v1/tokens ---------------------------------------------------------------------


def test_the_api_lists_and_revokes_your_tokens(viewer, team, owner):
    token_for(owner, team, name="not mine")
    client = client_for(viewer, team, name="viewer's")
    listed = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["viewer's"]
    assert "token_hash" not in listed[0]
    assert client.delete(f"/api/v1/tokens/{listed[0]['id']}").status_code == 204  # viewers may revoke theirs
    problem(client.get("/api/v1/tokens"), 401)
