"""The authorization matrix's machinery: every URL of the URLconf with real objects in its
path, a client per role, and one request per cell rolled back afterwards.

The expected outcomes live in ``authz_expectations``; the test is ``test_authz_matrix``."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from api.models import ApiToken, WebhookEndpoint
from console.models import AuditLog
from jobs.models import ComputeProfile, Dataset, Job, Membership, ModelAsset

ROLES = ("anonymous", "outsider", "viewer", "member", "owner", "staff")
EXTRA_API_METHODS = ("put", "patch", "delete")
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Url:
    route: str  # the full route, as written in the URLconfs: the key of the expectation table
    pattern: URLPattern

    @property
    def parameters(self) -> list[str]:
        return [a or b for a, b in PARAMETER.findall(self.route)]

    def methods(self) -> list[str]:
        """GET and POST for every URL; PUT/PATCH/DELETE where an API view implements them."""
        view = getattr(self.pattern.callback, "cls", None)  # set by DRF's APIView.as_view only
        extra = [m for m in EXTRA_API_METHODS if view is not None and hasattr(view, m)]
        return ["GET", "POST", *(m.upper() for m in extra)]


def every_url() -> list[Url]:
    """Every URL pattern reachable from ROOT_URLCONF, however deeply included."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[Url]:
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry, route)
            else:
                yield Url(route, entry)

    return list(walk(get_resolver(), ""))


# What a path parameter names, by the start of the route (the longest match wins); `pk` and
# `object_id` differ per area of the site.
PK_OWNERS = {
    "jobs/": "job",
    "datasets/": "dataset",
    "models/": "model",
    "settings/tokens/": "token",
    "settings/webhooks/": "webhook",
    "console/jobs/": "job",
    "console/profiles/": "profile",
    "team/members/": "membership",
    "team/presets/": "preset",
}
NAMED_PARAMETERS = {
    "job_id": "job",
    "dataset_id": "dataset",
    "model_id": "model",
    "artifact_id": "artifact",
    "webhook_id": "webhook",
    "token_id": "token",
    "profile_id": "profile",
    "preset_id": "preset",
    "team_id": "team",
    "number": "attempt_number",
    "method": "method",
    "id": "owner_user",  # admin: a user's password form
    "app_label": "app_label",
    "content_type_id": "content_type",
    "url": "missing_page",  # catch-alls
    # /openai/v1/: OpenAI-style ids of the same objects (api/openai_compat/ids.py)
    "file_id": "openai_file",
    "job_id@openai": "openai_job",
    "model@openai": "openai_model",
}


def fill(url: Url, world: dict) -> str:
    """The URL's path with the owning team's real objects in it."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in ("pk",):
            starts = [p for p in PK_OWNERS if url.route.startswith(p)]
            if not starts:
                raise LookupError(f"{url.route}: add the route's start to PK_OWNERS in {__name__}")
            return str(world[PK_OWNERS[max(starts, key=len)]])
        if name == "object_id":
            return str(world["job"] if url.route.startswith("admin/r/") else admin_object(url.route))
        if url.route.startswith("openai/") and f"{name}@openai" in NAMED_PARAMETERS:
            name = f"{name}@openai"
        if name not in NAMED_PARAMETERS:
            raise LookupError(f"{url.route}: teach NAMED_PARAMETERS in {__name__} what <{name}> names")
        return str(world[NAMED_PARAMETERS[name]])

    path = "/" + PARAMETER.sub(value, url.route).replace("^", "").replace("$", "")
    if path.endswith(".*"):
        path = path[:-2] + "no-such-page"
    match = resolve(path)
    assert match.func == url.pattern.callback, f"{url.route}: {path} resolves to {match.route}"
    return path


def admin_object(route: str) -> int:
    """The first row of the model an admin route edits."""
    _, app_label, model_name = route.split("/")[:3]
    row = apps.get_model(app_label, model_name).objects.order_by("pk").first()
    if row is None:
        raise LookupError(f"{route}: make a {app_label}.{model_name} in the matrix's world fixture")
    return row.pk


def content_type_id() -> int:
    return ContentType.objects.get_for_model(Job).pk


def clients(users: dict, tokens: dict) -> dict[str, tuple[Client, APIClient]]:
    """Per role: a browser session for the UI and a client for /api/ (a team token where the
    role has a team, the session otherwise)."""
    found = {}
    for role in ROLES:
        browser = Client()
        api = APIClient()
        user = users.get(role)
        if user is not None:
            browser.force_login(user)
            api.force_login(user)
        if role in tokens:
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[role]}")
        found[role] = (browser, api)
    return found


def outcome(response) -> str:
    if response.status_code == 302:
        if response.url.startswith("/login/"):
            return "login"
        if response.url.startswith("/admin/login/"):
            return "admin-login"
    return str(response.status_code)


# What a refused request must not change: one digest per table, in one query.
WATCHED = {
    Job: "id, status, priority, name",
    Dataset: "id, name",
    ModelAsset: "id, name, team_id",
    Membership: "id, role",
    ApiToken: "id, revoked_at",
    WebhookEndpoint: "id, url, secret_salt, is_active",
    ComputeProfile: "id, is_held",
    AuditLog: "id",
}
DIGEST = "(SELECT md5(coalesce(string_agg(concat_ws(',', {columns}), ';' ORDER BY id), '')) FROM {table})"
FINGERPRINT_SQL = "SELECT " + ", ".join(
    DIGEST.format(columns=columns, table=model._meta.db_table) for model, columns in WATCHED.items()
)


def fingerprint() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL)
        return cursor.fetchone()


REFUSALS = {"login", "admin-login", "401", "403", "404", "405"}


def request(client, method: str, path: str) -> tuple[str, bool]:
    """One cell: the outcome, and whether the database changed; always rolled back."""
    cookies = copy.deepcopy(client.cookies)  # signing out must not sign the role out for later cells
    with transaction.atomic():
        before = fingerprint()
        if isinstance(client, APIClient):
            response = getattr(client, method.lower())(path, {}, format="json")
        else:
            response = getattr(client, method.lower())(path, {})
        result = outcome(response)
        changed = result in REFUSALS and fingerprint() != before
        transaction.set_rollback(True)
    client.cookies = cookies
    return result, changed


def run_row(by_role: dict, method: str, path: str) -> tuple[list[str], list[str]]:
    """One row of the matrix: each role's outcome, and the roles whose refused request changed
    the database anyway."""
    row, changed = [], []
    for role in ROLES:
        browser, api = by_role[role]
        # The OpenAI-compatible API takes the same tokens as /api/ (and no browser session).
        result, dirty = request(api if path.startswith(("/api/", "/openai/")) else browser, method, path)
        row.append(result)
        if dirty:
            changed.append(role)
    return row, changed
