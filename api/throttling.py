"""Per-token rate limits: a fixed-window counter in the cache, keyed by token (or user).

``HONE_API_RATE`` sets the limit, e.g. ``600/min``. A fixed window needs one atomic
increment per request (Redis ``INCR`` in production) instead of the request history that
DRF's SimpleRateThrottle stores, so checking it costs the same at any rate. A refused
request gets 429 with ``Retry-After``: the seconds until the window ends.
"""

from __future__ import annotations

import math
import re
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

from api.auth import principal

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


def parse_rate(text: str) -> tuple[int, int]:
    """'600/min' → (600, 60): requests allowed per window of that many seconds."""
    match = RATE.match(text.lower())
    if not match or match.group(2) not in PERIODS or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not a rate; write it as <count>/<s|min|hour|day>, e.g. 600/min")
    return int(match.group(1)), PERIODS[match.group(2)]


def check_rate_setting() -> None:
    try:
        parse_rate(settings.HONE_API_RATE)
    except ValueError as exc:
        raise ImproperlyConfigured(f"HONE_API_RATE: {exc}") from None


# INCR, and set the expiry on the window's first request: atomic, one round trip.
INCR_WITH_EXPIRY = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""


def count(key: str, *, timeout: int) -> int:
    """Add one to ``key`` (made with ``timeout`` if new) and return it: one round trip on Redis."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=True)  # Django's own client for this cache
        return int(client.eval(INCR_WITH_EXPIRY, 1, backend.make_and_validate_key(key), timeout))
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (or its key just expired)
        return 1 if cache.add(key, 1, timeout=timeout) else cache.incr(key)


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        limit, period = parse_rate(settings.HONE_API_RATE)
        now = time.time()
        window = math.floor(now / period)
        used = count(f"hone:rate:{principal(request)}:{period}:{window}", timeout=period + 1)
        self._wait = (window + 1) * period - now
        return used <= limit

    def wait(self) -> float:
        return max(self._wait, 1.0)
