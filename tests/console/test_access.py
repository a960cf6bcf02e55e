"""Only staff reach the console. Every URL is taken from the console's URLconf, so a page or
action added later is covered without touching this file."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, reverse

from console import urls as console_urls
from console.models import AuditLog
from jobs.models import ComputeProfile, Job
from tests.console.helpers import gpu_profile, queued_job


@pytest.fixture
def targets(team):
    """An object of each kind a console URL can name, so every URL resolves to something real."""
    local = ComputeProfile.objects.get(name="local")
    return {"job": queued_job(team, profile=gpu_profile()), "profile": local}


def console_urls_for(targets) -> list[str]:
    urls = []
    for pattern in console_urls.urlpatterns:
        assert isinstance(pattern, URLPattern), "the console's URLconf is flat; include()s need handling here"
        kwargs = {}
        if "pk" in pattern.pattern.converters:
            kind = "profile" if "profile" in pattern.name else "job"
            kwargs["pk"] = targets[kind].pk
        urls.append(reverse(f"console:{pattern.name}", kwargs=kwargs))
    return urls


def test_the_url_list_covers_every_page_and_action(targets):
    urls = console_urls_for(targets)
    assert len(urls) == len(console_urls.urlpatterns) >= 13
    assert "/console/" in urls and "/console/drain/" in urls


@pytest.mark.parametrize("who", ["owner", "member", "viewer"])
def test_people_who_are_not_staff_get_a_404_for_every_page_and_action(client, request, who, targets):
    client.force_login(request.getfixturevalue(who))
    for url in console_urls_for(targets):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"priority": "99"}).status_code == 404, url
    assert not AuditLog.objects.exists()
    job, profile = targets["job"], targets["profile"]
    job.refresh_from_db()
    profile.refresh_from_db()
    assert (job.status, job.priority, profile.is_held) == ("queued", 0, False)
    assert not ComputeProfile.objects.filter(is_held=True).exists()


def test_the_anonymous_are_sent_to_log_in_and_change_nothing(client, targets):
    for url in console_urls_for(targets):
        for response in (client.get(url), client.post(url, {"priority": "99"})):
            assert response.status_code == 302, url
            assert response.url.startswith(reverse("login")), url
    assert not AuditLog.objects.exists()
    assert Job.objects.get(pk=targets["job"].pk).status == "queued"


def test_staff_see_every_page(operator_client):
    pages = [p for p in console_urls.urlpatterns if not p.pattern.converters]
    for pattern in pages:
        url = reverse(f"console:{pattern.name}")
        expected = 405 if url in ("/console/drain/", "/console/resume-all/") else 200  # actions: POST only
        assert operator_client.get(url).status_code == expected, url


def test_the_console_link_is_shown_to_staff_only(client, member, operator_client):
    link = '<a href="/console/"'
    assert link in operator_client.get("/console/").content.decode()
    client.force_login(member)
    assert link not in client.get("/").content.decode()
