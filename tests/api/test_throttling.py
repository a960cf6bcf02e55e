"""Per-token rate limits: 429 with Retry-After once a token has used its window."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from api.throttling import check_rate_setting, parse_rate
from tests.api.helpers import client_for, problem


def test_a_token_over_its_rate_gets_a_429_with_retry_after(member, owner, team, settings):
    settings.HONE_API_RATE = "3/min"
    client = client_for(member, team)
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/me")
    body = problem(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "throttled" in body["detail"]
    # Another token (even of the same user) has its own budget.
    assert client_for(member, team).get("/api/v1/me").status_code == 200


def test_the_session_is_limited_per_user(client, member, settings):
    settings.HONE_API_RATE = "2/hour"
    client.force_login(member)
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    "text, expected", [("600/min", (600, 60)), ("5/s", (5, 1)), ("10 / hour", (10, 3600))]
)
def test_rates_parse(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["600", "0/min", "5/fortnight", "x/min"])
def test_a_bad_rate_setting_stops_hone(settings, text):
    settings.HONE_API_RATE = text
    with pytest.raises(ImproperlyConfigured, match="HONE_API_RATE"):
        check_rate_setting()


def test_counting_in_redis_takes_one_round_trip_and_expires(settings):
    import os
    import uuid

    import redis
    from django.core.cache import caches

    from api.throttling import count

    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    assert [count("window", timeout=30) for _ in range(3)] == [1, 2, 3]
    raw = redis.Redis.from_url(url)
    key = caches["default"].make_and_validate_key("window")
    assert 0 < raw.ttl(key) <= 30
    raw.delete(key)
