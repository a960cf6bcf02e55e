"""Webhooks: endpoints (owners), the SSRF guard, signed deliveries to a real HTTP server,
retries with backoff, the sweep that catches missed transitions, and the delivery log."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from api import webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from jobs.lifecycle import transitions
from jobs.models import JobTransition
from tests.api.helpers import fields, problem


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run inline, as a worker would run them, so no broker is involved."""
    from hone.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


@pytest.fixture
def receiver():
    """A real HTTP server on loopback that records requests and answers with queued codes."""
    seen, codes = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(SimpleNamespace(headers=dict(self.headers), body=body, path=self.path))
            code = codes.pop(0) if codes else 200
            self.send_response(code)
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b"receiver ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hook?x=1", seen=seen, codes=codes)
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(settings, team, owner, receiver):
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    return webhooks.create_endpoint(team=team, user=owner, url=receiver.url, description="ci")


def change(job, status: str, django_capture_on_commit_callbacks) -> None:
    """A real transition, announced after commit as in production."""
    with django_capture_on_commit_callbacks(execute=True):
        transitions.record(job.pk, status)


# --- endpoints ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://10.0.0.8/x",
        "ftp://example.com/x",
        # IPv6 forms that reach loopback or the metadata service (issue 23, item 5)
        "http://[64:ff9b::a9fe:a9fe]/latest",  # NAT64 of 169.254.169.254
        "http://[2002:a9fe:a9fe::]/latest",  # 6to4 of 169.254.169.254
        "http://[::7f00:1]/x",  # IPv4-compatible 127.0.0.1
        "http://[64:ff9b::7f00:1]/x",  # NAT64 of 127.0.0.1
        "http://[2002:7f00:1::]/x",  # 6to4 of 127.0.0.1
        "http://[fec0::1]/x",  # site-local
        "http://[::ffff:127.0.0.1]/x",  # IPv4-mapped
        "http://[::ffff:0:a9fe:a9fe]/x",  # IPv4-translated (SIIT)
        "http://[64:ff9b:1::a00:8]/x",  # local-use NAT64 of 10.0.0.8
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",  # Teredo
        "http://[fe80::1%25eth0]/x",  # link-local with a zone
        "http://[::]/x",
        "http://0x7f000001/x",  # 127.0.0.1 written in hex
        "http://2130706433/x",  # 127.0.0.1 as one number
        "http://0177.0.0.1/x",  # octal
    ],
)
def test_private_addresses_are_refused(as_owner, url):
    response = as_owner.post("/api/v1/webhooks", {"url": url}, format="json")
    assert "url" in fields(problem(response, 400))
    assert not WebhookEndpoint.objects.exists()


def test_owners_add_endpoints_and_get_the_secret_once_in_the_api(as_owner, settings, receiver):
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    response = as_owner.post("/api/v1/webhooks", {"url": receiver.url, "description": "ci"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == webhooks.secret_for(endpoint) and body["secret"].startswith("whsec_")
    assert "secret" not in as_owner.get(f"/api/v1/webhooks/{endpoint.pk}").json()
    secret = body["secret"][len("whsec_") :]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM api_webhookendpoint t WHERE t::text LIKE %s", [f"%{secret}%"])
        assert cursor.fetchone()[0] == 0


def test_members_see_endpoints_but_cannot_change_them(as_member, endpoint, receiver):
    assert [e["id"] for e in as_member.get("/api/v1/webhooks").json()] == [endpoint.pk]
    problem(as_member.post("/api/v1/webhooks", {"url": receiver.url}, format="json"), 403)
    problem(as_member.delete(f"/api/v1/webhooks/{endpoint.pk}"), 403)


def test_owners_remove_endpoints(as_owner, endpoint):
    assert as_owner.delete(f"/api/v1/webhooks/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


# --- deliveries ---------------------------------------------------------------------------


def test_a_state_change_is_delivered_signed(job, endpoint, receiver, django_capture_on_commit_callbacks):
    change(job, "succeeded", django_capture_on_commit_callbacks)
    assert len(receiver.seen) == 1
    request = receiver.seen[0]
    assert request.path == "/hook?x=1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Hone-Event"] == "job.status_changed"
    assert webhooks.verify(webhooks.secret_for(endpoint), request.body, request.headers["Hone-Signature"])
    assert not webhooks.verify("whsec_wrong", request.body, request.headers["Hone-Signature"])
    assert not webhooks.verify(
        webhooks.secret_for(endpoint), request.body + b" ", request.headers["Hone-Signature"]
    )
    payload = json.loads(request.body)
    assert payload["type"] == "job.status_changed"
    assert payload["data"]["job"] == {**payload["data"]["job"], "id": job.pk, "status": "succeeded"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert request.headers["Hone-Delivery"] == str(delivery.pk)


def test_the_signature_is_hmac_sha256_of_timestamp_and_body(endpoint):
    import hashlib
    import hmac

    secret, body = webhooks.secret_for(endpoint), b'{"a":1}'
    header = webhooks.sign(secret, body, 1700000000)
    expected = hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhooks.verify(secret, body, header, now=1700000100)
    assert not webhooks.verify(secret, body, header, now=1700000000 + 301)  # a replay, too old


def test_teams_without_endpoints_enqueue_nothing(job, monkeypatch, django_capture_on_commit_callbacks):
    from api import tasks

    calls = []
    monkeypatch.setattr(tasks.deliver_job_webhooks, "delay", lambda job_id: calls.append(job_id))
    change(job, "running", django_capture_on_commit_callbacks)
    assert calls == []


def test_failures_are_retried_with_backoff_then_delivered(
    job, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.HONE_WEBHOOK_RETRY_SECONDS = 30
    receiver.codes += [500, 503]
    change(job, "failed", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: receiver ok"
    assert timedelta(seconds=25) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert webhooks.sweep() == []  # not due yet: nothing is sent
    for attempts, wait in ((2, 60), (3, None)):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        webhooks.sweep()
        delivery.refresh_from_db()
        assert delivery.attempts == attempts
        if wait:
            assert delivery.last_status_code == 503
            assert (
                timedelta(seconds=wait - 5)
                < delivery.next_attempt_at - timezone.now()
                <= timedelta(seconds=wait)
            )
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("succeeded", 200, "")
    assert len(receiver.seen) == 3
    assert len({r.body for r in receiver.seen}) == 1  # the same bytes every time


def test_it_gives_up_after_the_last_attempt(
    job, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.HONE_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.codes += [500, 500, 500]
    change(job, "failed", django_capture_on_commit_callbacks)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    webhooks.sweep()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)


def test_backoff_doubles_up_to_an_hour(settings):
    settings.HONE_WEBHOOK_RETRY_SECONDS = 30
    assert [webhooks.backoff_seconds(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_an_unreachable_endpoint_records_the_error(job, endpoint, django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="http://127.0.0.1:9/closed")
    change(job, "running", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "ConnectionRefusedError" in delivery.last_error


def test_the_guard_applies_at_delivery_time_too(
    job, endpoint, settings, receiver, django_capture_on_commit_callbacks
):
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = False
    change(job, "running", django_capture_on_commit_callbacks)
    assert receiver.seen == []
    assert "refused" in WebhookDelivery.objects.get().last_error


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:a9fe:a9fe::", "::7f00:1", "fec0::1"])
def test_an_ipv6_form_of_an_inside_address_is_refused_at_delivery(
    job, endpoint, settings, receiver, monkeypatch, django_capture_on_commit_callbacks, address
):
    """DNS can change after the URL was saved: each delivery resolves and checks again."""
    import socket

    settings.HONE_WEBHOOK_ALLOW_PRIVATE = False
    answer = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 80, 0, 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)
    change(job, "running", django_capture_on_commit_callbacks)
    assert receiver.seen == []
    assert f"resolves to {address}" in WebhookDelivery.objects.get().last_error


@pytest.mark.parametrize("address", ["2606:4700::1111", "64:ff9b::808:808", "2002:808:808::", "8.8.8.8"])
def test_public_addresses_in_any_form_are_public(address):
    from api.ssrf import is_public

    assert is_public(address)


def test_the_sweep_sends_transitions_the_signal_missed(job, endpoint, receiver):
    JobTransition.objects.create(job=job, status="running")  # committed, but no one was told
    webhooks.sweep()
    assert len(receiver.seen) == 1
    webhooks.sweep()
    assert len(receiver.seen) == 1  # once only


def test_endpoints_get_only_what_happened_after_they_were_added(job, team, owner, receiver, settings):
    JobTransition.objects.create(job=job, status="running")
    JobTransition.objects.filter(job=job).update(at=timezone.now() - timedelta(minutes=1))
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    webhooks.create_endpoint(team=team, user=owner, url=receiver.url)
    webhooks.sweep()
    assert receiver.seen == []


def test_a_delivery_in_flight_is_not_sent_twice(job, endpoint):
    JobTransition.objects.create(job=job, status="running")
    webhooks.fan_out(JobTransition.objects.all())
    delivery = WebhookDelivery.objects.get()
    assert webhooks._claim(delivery.pk) is not None
    assert webhooks._claim(delivery.pk) is None  # leased to the first worker


def test_other_teams_jobs_are_not_sent(endpoint, receiver, other_job, django_capture_on_commit_callbacks):
    change(other_job, "running", django_capture_on_commit_callbacks)
    webhooks.sweep()
    assert receiver.seen == []


# --- the delivery log ---------------------------------------------------------------------


def test_the_log_in_the_api(as_member, job, endpoint, receiver, django_capture_on_commit_callbacks):
    receiver.codes.append(500)
    change(job, "failed", django_capture_on_commit_callbacks)
    log = as_member.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").json()["results"]
    assert log == [
        {
            **log[0],
            "job": job.pk,
            "job_status": "failed",
            "status": "pending",
            "attempts": 1,
            "last_status_code": 500,
            "last_error": "HTTP 500: receiver ok",
        }
    ]


def test_the_pages(client, owner, member, team, endpoint, job, receiver, django_capture_on_commit_callbacks):
    receiver.codes.append(502)
    change(job, "failed", django_capture_on_commit_callbacks)
    client.force_login(owner)
    page = client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert webhooks.secret_for(endpoint) in page
    assert re.search(r"<td class=\"num\">502</td>", page) and "HTTP 502: receiver ok" in page
    old = webhooks.secret_for(endpoint)
    assert client.post(f"/settings/webhooks/{endpoint.pk}/rotate/").status_code == 302
    endpoint.refresh_from_db()
    assert webhooks.secret_for(endpoint) != old
    client.force_login(member)
    page = client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert webhooks.secret_for(endpoint) not in page and "HTTP 502" in page
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 403


def test_the_page_adds_and_refuses_endpoints(client, owner, settings, receiver):
    client.force_login(owner)
    refused = client.post("/settings/webhooks/", {"url": "http://127.0.0.1/x"})
    assert "private, loopback or link-local" in refused.content.decode()
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    added = client.post("/settings/webhooks/", {"url": receiver.url, "description": "ci"})
    endpoint = WebhookEndpoint.objects.get()
    assert added["Location"] == f"/settings/webhooks/{endpoint.pk}/"
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()
