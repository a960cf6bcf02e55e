"""The authorization matrix: every URL of the site × {anonymous, outsider, viewer, member,
owner, staff}, each cell compared with ``authz_expectations``.

The URLs come from the URLconf itself (``get_resolver()``, walked through every include), so a
new page, action or endpoint is in the matrix the moment it is routed, and the matrix fails
until someone writes down who may use it. Path parameters name real objects of team Acme
(a job with an artifact and an adapter output, its dataset, a webhook, the owner's token, a
profile only Acme may use, a member's membership). The outsider owns team Globex; staff is an
operator in no team. Each request runs in a savepoint that is rolled back, so cells never
disturb each other, and a refused request must leave the database as it was."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from api import tokens, webhooks
from api.models import IdempotencyKey, WebhookDelivery
from api.openai_compat import ids as openai_ids
from console import audit
from jobs.data import storage
from jobs.models import (
    Artifact,
    Attempt,
    ComputeProfile,
    Dataset,
    Event,
    Job,
    JobInput,
    JobTransition,
    Membership,
    MetricPoint,
    ModelAsset,
    TeamPreset,
)
from tests.api.helpers import make_job
from tests.reliability import authz_expectations as expected
from tests.reliability.authz_world import ROLES, clients, content_type_id, every_url, fill, run_row


@pytest.fixture(autouse=True)
def _quiet_settings(settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.HONE_API_RATE = "1000000/min"
    settings.HONE_LOGIN_FAILURES = settings.HONE_LOGIN_FAILURES_PER_ADDRESS = 1000  # many sign-ins here
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(team, owner, member, viewer, outsider, django_user_model, tiny_model, dataset) -> dict:
    job = make_job(team, member, tiny_model, dataset, status="succeeded", name="acme job")
    attempt = Attempt.objects.create(
        job=job, number=1, executor="local", status="succeeded", token_hash="0" * 64
    )
    path = storage.root() / "runs" / f"job-{job.pk}" / "adapter.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    artifact = Artifact.objects.create(
        job=job, name="adapter", kind="model", location=storage.relative(path), bytes=7, sha256="a" * 64
    )
    adapter = ModelAsset.objects.create(
        team=team,
        name="acme adapter",
        source="job",
        path=str(path.parent),
        task="causal-lm",
        format=ModelAsset.Format.ADAPTER,
        adapter_base=tiny_model,
        produced_by=job,
    )
    Dataset.objects.filter(pk=dataset.pk).update(name="acme data")
    profile = ComputeProfile.objects.create(name="acme-only")
    profile.allowed_teams.add(team)
    admin_rows(job, attempt, adapter, owner, team)
    staff = django_user_model.objects.create_user(username="staff", password="pw-staff", is_staff=True)
    owner_token = tokens.issue(user=owner, team=team, name="owner's")
    secrets = {
        role: tokens.issue(user=u, team=u.memberships.get().team, name=role)[1]
        for role, u in (("outsider", outsider), ("viewer", viewer), ("member", member))
    }
    secrets["owner"] = owner_token[1]
    return {
        "job": job.pk,
        "attempt_number": attempt.number,
        "artifact": artifact.pk,
        "dataset": dataset.pk,
        "model": adapter.pk,
        "webhook": webhooks.create_endpoint(team=team, user=owner, url="http://127.0.0.1:9/hook").pk,
        "token": owner_token[0].pk,
        "profile": profile.pk,
        "team": team.pk,
        "membership": Membership.objects.get(user=member).pk,
        "preset": TeamPreset.objects.get(team=team).pk,
        "method": "lora",
        "owner_user": owner.pk,
        "app_label": "jobs",
        "content_type": content_type_id(),
        "missing_page": "no-such-page",
        "users": {"outsider": outsider, "viewer": viewer, "member": member, "owner": owner, "staff": staff},
        "secrets": secrets,
        "openai_file": f"file-{dataset.pk}",
        "openai_job": f"ftjob-{job.pk}",
        "openai_model": openai_ids.model_id(adapter),
    }


def admin_rows(job, attempt, adapter, owner, team) -> None:
    """A row of every model the admin edits, so its object pages name something real."""
    Group.objects.create(name="operators")
    now = timezone.now()
    Event.objects.create(attempt=attempt, seq=1, kind="metric", time=now)
    MetricPoint.objects.create(job=job, attempt=attempt, name="train/loss", step=1, value=1.0)
    transition = JobTransition.objects.create(job=job, status="succeeded")
    JobInput.objects.create(job=job, role=JobInput.Role.values[0], model=adapter)
    endpoint = webhooks.create_endpoint(team=team, user=owner, url="http://127.0.0.1:9/old")
    WebhookDelivery.objects.create(endpoint=endpoint, transition=transition, body="{}")
    IdempotencyKey.objects.create(
        team=team, principal=f"user:{owner.pk}", key="k", fingerprint="0" * 64, method="POST", path="/x"
    )
    audit.record(owner, "team.member_add", team, details={"user": "viewer", "role": "viewer"})
    TeamPreset.objects.create(team=team, name="acme preset", method="lora", objective="sft", source_job=job)


def test_every_url_has_an_expectation() -> None:
    missing = [url.route for url in every_url() if expected.rule_for(url.route) is None]
    assert not missing, expected.how_to_add(missing)


def test_every_expectation_names_a_url() -> None:
    routes = {url.route for url in every_url()}
    stale = sorted(set(expected.EXPECTED) - routes)
    assert not stale, f"These routes are in authz_expectations.EXPECTED but not in the URLconf: {stale}"


def test_every_cell_of_the_matrix(world) -> None:
    by_role = clients(world["users"], world["secrets"])
    problems, unlisted, cells = [], {}, 0
    for url in every_url():
        path = fill(url, world)
        rule = expected.rule_for(url.route) or {}
        for method in url.methods():
            row, changed = run_row(by_role, method, path)
            cells += len(row)
            problems += [
                f"{method} {path} as {role} was refused ({row[ROLES.index(role)]}) but changed the database"
                for role in changed
            ]
            want = rule.get(method)
            if want is None:
                unlisted.setdefault(url.route, {})[method] = " ".join(row)
            elif want.split() != row:
                got = " ".join(row)
                problems.append(f"{method} {path} ({url.route}):\n    expected {want}\n    got      {got}")
    if unlisted:
        problems.append(expected.how_to_add(list(unlisted), observed=unlisted))
    summary = f"{len(problems)} problems in {cells} cells (roles: {' '.join(ROLES)}):\n"
    assert not problems, summary + "\n".join(problems)
    print(f"authorization matrix: {len(every_url())} URLs, {cells} cells")


def test_acme_ids_in_queries_and_forms_show_the_outsider_nothing(client, world) -> None:
    """Pages that take object ids in the query string or the form (prefills, comparisons,
    the wizard's answers, switching teams) never show or use another team's objects."""
    client.force_login(world["users"]["outsider"])
    job, dataset, model, team = world["job"], world["dataset"], world["model"], world["team"]
    gets = [
        f"/jobs/new/?from={job}",
        f"/jobs/new/?dataset={dataset}",
        f"/jobs/compare/?ids={job},{job}",
        f"/jobs/new/quantize/?model={model}",
        f"/jobs/new/evaluate/?base={model}&candidate={model}",
        f"/jobs/guided/data/?goal=instruct&dataset={dataset}",
        f"/jobs/guided/model/?goal=instruct&dataset={dataset}&model={model}",
        f"/jobs/guided/review/?goal=instruct&dataset={dataset}&model={model}&preset=quick",
        "/?q=acme",
    ]
    for path in gets:
        response = client.get(path, follow=True)
        page = response.content.decode()
        assert response.status_code in (200, 404), path
        for name in ("acme job", "acme data", "acme adapter", "Acme"):
            assert name not in page, f"GET {path} shows the outsider {name!r}"
    posts = [
        ("/team/switch/", {"team": team}),
        ("/jobs/new/", {"from": job, "name": "x", "dataset": dataset, "base_model": model}),
        ("/jobs/new/quantize/", {"name": "x", "model": model, "method": "rtn_int8"}),
        ("/jobs/new/evaluate/", {"name": "x", "base": model, "candidate": model}),
    ]
    jobs_before = Job.objects.count()
    for path, data in posts:
        response = client.post(path, data)
        assert response.status_code in (200, 404), (path, response.status_code)
        page = response.content.decode().lower()
        assert "acme" not in page, f"POST {path} shows the outsider Acme's objects"
    assert Job.objects.count() == jobs_before
