"""Production settings: `manage.py check --deploy` is clean, and what it asks for is really
sent — Secure cookies, HSTS, the HTTPS redirect (not for the probes), and a
Content-Security-Policy that every page and template can live with."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

# What a browser gets from a production deployment, from a fresh process that reads the env.
HEADERS_SCRIPT = """
import json
from django.conf import settings
from django.test import Client, override_settings
# Pages render without `collectstatic` (the manifest storage needs it).
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client(HTTP_HOST="hone.example.com")
secure = client.get("/login/", secure=True)
plain = client.get("/login/")
probe = client.get("/healthz")
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
events = RequestFactory(HTTP_HOST="hone-web").post("/api/v1/attempts/1/1/events")
ingest = SecurityMiddleware(lambda request: None).process_request(events)
print(json.dumps({
    "ingest_redirect": getattr(ingest, "status_code", None),
    "secure_headers": dict(secure.headers),
    "secure_cookies": {name: dict(c.items()) for name, c in secure.cookies.items()},
    "plain": [plain.status_code, plain.headers.get("Location", "")],
    "probe": probe.status_code,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": settings.CSRF_COOKIE_SECURE,
}))
"""


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HONE_", "DJANGO_", "DATABASE_", "CELERY_", "CACHE_"))
    }
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "hone.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://hone.example.com",
            "HONE_HTTPS": "1",
            "HONE_VAR": str(tmp_path / "var"),
            **extra,
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path) -> None:
    done = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_names_what_a_plain_http_deployment_lacks(tmp_path) -> None:
    done = manage(production_env(tmp_path, HONE_HTTPS="0"), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in done.stderr + done.stdout, check


def test_production_sends_hsts_csp_and_secure_cookies(tmp_path) -> None:
    done = manage(production_env(tmp_path), "shell", "-c", HEADERS_SCRIPT)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    headers = seen["secure_headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert seen["session_cookie_secure"] and seen["csrf_cookie_secure"]
    assert seen["secure_cookies"]["csrftoken"]["secure"] is True
    assert seen["secure_cookies"]["csrftoken"]["httponly"] is True
    assert seen["plain"] == [301, "https://hone.example.com/login/"]
    assert seen["probe"] == 200  # the kubelet's plain-HTTP probe is not redirected
    # Trainer pods post events to the web Service over the cluster's plain HTTP: not redirected.
    assert seen["ingest_redirect"] is None


def test_every_page_gets_the_content_security_policy(client, owner) -> None:
    client.force_login(owner)
    for path in ("/", "/login/", "/api/v1/docs/", "/api/v1/me", "/no-such-page/"):
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy, path
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, path


INLINE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
        "an inline <script>",
    ),
    (re.compile(r"<style\b", re.I), "an inline <style>"),
    (re.compile(r"\sstyle=", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on…= event handler"),
    (re.compile(r"\bhx-on", re.I), "an hx-on handler (needs eval)"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_templates_have_nothing_inline_the_policy_would_block(template: Path) -> None:
    """The policy allows scripts and styles from static files only: put page code in static/."""
    for number, line in enumerate(template.read_text().splitlines(), start=1):
        for pattern, what in INLINE:
            assert not pattern.search(line), (
                f"{template.relative_to(ROOT)}:{number} has {what}: {line.strip()}"
            )
