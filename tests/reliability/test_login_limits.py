"""Failed sign-ins are limited per username and address, and per address: past the limit the
form answers 429 with a clear message, even to the right password, on Hone's sign-in page and
the admin's."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(autouse=True)
def _limits(settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.HONE_LOGIN_FAILURES = 3
    settings.HONE_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.HONE_LOGIN_WINDOW_SECONDS = 900
    settings.HONE_CLIENT_IP_HEADER = ""
    from django.core.cache import cache

    cache.clear()


def sign_in(
    client, username: str, password: str, *, path: str = "/login/", address: str = "10.0.0.1", **extra
):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def test_after_too_many_failures_even_the_right_password_gets_a_429(client, member) -> None:
    for _ in range(3):
        assert sign_in(client, "member", "wrong").status_code == 200  # the form, with its error
    refused = sign_in(client, "member", "pw-member")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 900
    page = refused.content.decode()
    assert re.search(r"Too many failed sign-ins from your address\. Wait \d+ minutes? and try again", page)
    assert "_auth_user_id" not in client.session
    # Another address is not affected, and signs in.
    assert sign_in(client, "member", "pw-member", address="10.0.0.2").status_code == 302


def test_a_successful_sign_in_clears_the_count(client, member) -> None:
    for _ in range(2):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member", "pw-member").status_code == 302
    client.logout()
    for _ in range(2):
        assert sign_in(client, "member", "wrong").status_code == 200
    assert sign_in(client, "member", "pw-member").status_code == 302


def test_spraying_many_usernames_from_one_address_is_limited(client, member) -> None:
    for number in range(5):
        assert sign_in(client, f"user{number}", "wrong").status_code == 200
    assert sign_in(client, "member", "pw-member").status_code == 429


def test_the_admin_sign_in_is_limited_too(client, django_user_model) -> None:
    django_user_model.objects.create_user(username="op", password="pw-op", is_staff=True)
    for _ in range(3):
        assert sign_in(client, "op", "wrong", path="/admin/login/").status_code == 200
    assert sign_in(client, "op", "pw-op", path="/admin/login/").status_code == 429


def test_behind_a_proxy_the_clients_address_counts(client, settings, member) -> None:
    settings.HONE_CLIENT_IP_HEADER = "X-Forwarded-For"
    for _ in range(3):
        sign_in(client, "member", "wrong", address="10.9.9.9", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    # A forged first hop does not escape: the proxy's own (last) entry is the address.
    forged = sign_in(
        client, "member", "pw-member", address="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    assert forged.status_code == 429
    other = sign_in(client, "member", "pw-member", address="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.status_code == 302


def test_guessing_api_tokens_is_limited_like_passwords(settings, member, team) -> None:
    from rest_framework.test import APIClient

    from api import tokens

    settings.HONE_TOKEN_FAILURES_PER_ADDRESS = 3
    valid = tokens.issue(user=member, team=team, name="ci")[1]

    def me(token: str, address: str = "10.0.0.1"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.get("/api/v1/me", REMOTE_ADDR=address)

    assert me(valid).status_code == 200
    for number in range(3):
        assert me(f"hone_pat_guess{number}").status_code == 401
    refused = me(valid)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many unknown tokens were sent from your address" in refused.json()["detail"]
    assert me(valid, address="10.0.0.2").status_code == 200  # other addresses are not affected
