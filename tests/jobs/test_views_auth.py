"""Logging in and out, and that every page asks for a login first."""

from __future__ import annotations

import pytest
from django.urls import reverse

PAGES = [
    "/",
    "/jobs/",
    "/jobs/new/",
    "/jobs/1/",
    "/jobs/1/live/",
    "/jobs/1/artifacts/1/download/",
    "/datasets/",
    "/datasets/new/",
    "/datasets/1/",
    "/models/",
]


def test_login_page_renders(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<label for="id_username">' in body
    assert '<label for="id_password">' in body
    assert 'action="/login/"' in body


def test_it_logs_in_and_lands_on_the_jobs_page(client, owner, team):
    response = client.post("/login/", {"username": "owner", "password": "pw-owner"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("jobs:job_list")
    assert response.status_code == 200
    assert team.name in response.content.decode()


def test_it_rejects_a_wrong_password(client, owner):
    response = client.post("/login/", {"username": "owner", "password": "nope"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("url", PAGES)
def test_it_sends_anonymous_visitors_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={url}")


def test_logout_is_a_post_form(client, owner):
    client.force_login(owner)
    body = client.get("/").content.decode()
    assert 'action="/logout/"' in body
    assert 'method="post"' in body
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_pages_load_pinned_htmx_and_send_csrf_in_hx_headers(client, owner):
    client.force_login(owner)
    body = client.get("/").content.decode()
    assert "/static/vendor/htmx-2." in body
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


def test_a_user_without_a_team_gets_404(client, django_user_model):
    user = django_user_model.objects.create_user(username="loner", password="pw-loner")
    client.force_login(user)
    assert client.get("/").status_code == 404
