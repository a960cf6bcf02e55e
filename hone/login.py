"""Sign-in with a limit on failures: guessing passwords gets a 429, not unlimited tries.

Failed sign-ins are counted in the cache (Redis in production, shared by every web process)
per username and address, and per address alone, in fixed windows of
``HONE_LOGIN_WINDOW_SECONDS``. Past ``HONE_LOGIN_FAILURES`` for one username from one address,
or ``HONE_LOGIN_FAILURES_PER_ADDRESS`` from one address, the form is refused until the window
ends, even with the right password; a successful sign-in clears its username's count.
Behind a proxy, set ``HONE_CLIENT_IP_HEADER`` (e.g. X-Forwarded-For) so addresses are the
clients', not the proxy's. API tokens get the same treatment (api/auth.py): past
``HONE_TOKEN_FAILURES_PER_ADDRESS`` unknown tokens from one address in a window, every token
from it gets a 429 until the window ends.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def _window() -> tuple[int, int]:
    """The current window's number and the seconds left in it."""
    size = settings.HONE_LOGIN_WINDOW_SECONDS
    now = time.time()
    return int(now // size), math.ceil(size - now % size)


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    window, _ = _window()
    address = client_address(request)
    who = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()[:32]
    return f"hone:login:user:{who}:{window}", f"hone:login:addr:{address}:{window}"


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind a proxy the last hop of
    ``HONE_CLIENT_IP_HEADER`` (the one the proxy itself appended, which clients cannot forge)."""
    header = settings.HONE_CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR", "")


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def _add_failure(key: str) -> None:
    cache.add(key, 0, timeout=settings.HONE_LOGIN_WINDOW_SECONDS + 5)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.HONE_LOGIN_WINDOW_SECONDS + 5)


def unknown_tokens_exceeded(request: HttpRequest) -> int:
    """Seconds to wait when this address sent ``HONE_TOKEN_FAILURES_PER_ADDRESS`` unknown API
    tokens in this window (guessing tokens is refused like guessing passwords), else 0."""
    window, left = _window()
    key = f"hone:tokens:addr:{client_address(request)}:{window}"
    return left if _count(key) >= settings.HONE_TOKEN_FAILURES_PER_ADDRESS else 0


def count_unknown_token(request: HttpRequest) -> None:
    window, _ = _window()
    _add_failure(f"hone:tokens:addr:{client_address(request)}:{window}")


def limit_failures(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a sign-in view (Hone's, the admin's) with the failure limit."""

    if getattr(view, "hone_limited", False):
        return view

    @wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        username = request.POST.get("username", "")
        user_key, address_key = _keys(request, username)
        if (
            _count(user_key) >= settings.HONE_LOGIN_FAILURES
            or _count(address_key) >= settings.HONE_LOGIN_FAILURES_PER_ADDRESS
        ):
            return refusal(request, username)
        response = view(request, *args, **kwargs)
        if request.user.is_authenticated:
            cache.delete(user_key)
        else:
            _add_failure(user_key)
            _add_failure(address_key)
        return response

    limited.hone_limited = True  # type: ignore[attr-defined]
    return limited


def refusal(request: HttpRequest, username: str) -> HttpResponse:
    """429 with the sign-in form saying why; the password is not checked at all."""
    _, left = _window()
    minutes = max(1, math.ceil(left / 60))
    form = AuthenticationForm(request, initial={"username": username})  # unbound: nothing is checked
    form.cleaned_data = {}  # what add_error expects of a form that has been cleaned
    form.add_error(
        None,
        f"Too many failed sign-ins from your address. Wait {minutes} minute{'s' * (minutes > 1)} "
        "and try again, or ask an operator to reset your password.",
    )
    response = TemplateResponse(request, "registration/login.html", {"form": form}, status=429)
    response["Retry-After"] = str(left)
    return response
