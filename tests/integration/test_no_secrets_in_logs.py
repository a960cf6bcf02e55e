"""No secret ends up in a log: a job created through the API with a personal access token runs
on the real worker and trainer and fires a signed webhook; then the log records of this
process, the worker's output and every file the run left under storage ``runs/`` are searched
for the events token, the SECRET_KEY, the PAT, the webhook's signing secret and HF_TOKEN."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api import tokens, webhooks
from jobs.models import Attempt, Job
from tests.api.helpers import full_params
from tests.conftest import jsonl_bytes
from tests.integration.conftest import WORKER_SECRETS
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET_KEY, HF_TOKEN = WORKER_SECRETS["SECRET_KEY"], WORKER_SECRETS["HF_TOKEN"]  # the worker has them
TOKEN_LIKE = re.compile(rb"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32), the events token


@pytest.fixture
def receiver():
    """A local webhook endpoint that records what it gets."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def leaks(blob: bytes, named: dict[str, str], token_hash: str) -> list[str]:
    found = [name for name, value in named.items() if value.encode() in blob]
    for word in set(TOKEN_LIKE.findall(blob)):
        if hashlib.sha256(word).hexdigest() == token_hash:
            found.append("the events token")
    return found


def test_no_secret_is_logged_during_a_job(
    live, settings, caplog, receiver, team, member, tiny_model, demo_rows
):
    from rest_framework.test import APIClient

    caplog.set_level(logging.DEBUG)
    settings.SECRET_KEY = SECRET_KEY  # the worker's, so both derive the same webhook secret
    settings.HONE_WEBHOOK_ALLOW_PRIVATE = True
    url, received = receiver
    endpoint = webhooks.create_endpoint(team=team, user=member, url=url)
    pat = tokens.issue(user=member, team=team, name="ci")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pat}")
    assert client.post("/api/v1/me", {}).status_code in (403, 405)
    upload = SimpleUploadedFile("train.jsonl", jsonl_bytes(demo_rows))
    dataset = client.post("/api/v1/datasets", {"name": "toy", "file": upload}, format="multipart")
    assert dataset.status_code == 201, dataset.content
    params = full_params() | {"training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.003}}
    body = {"name": "toy run", "base_model": tiny_model.pk, "dataset": dataset.json()["id"], "params": params}
    created = client.post("/api/v1/jobs", body, format="json")
    assert created.status_code == 201, created.content
    job = Job.objects.get(pk=created.json()["id"])
    wait_for(lambda: Job.objects.get(pk=job.pk).status in Job.FINISHED, timeout=240, what="the job to finish")
    assert Job.objects.get(pk=job.pk).status == "succeeded"
    wait_for(lambda: len(received) >= 2, timeout=60, what="webhook deliveries")
    attempt = Attempt.objects.get(job=job)
    assert attempt.token_hash  # the trainer was given a token (only its hash is kept)
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer hone_pat_" + "x" * 43)  # an unknown token is refused
    assert stranger.get("/api/v1/me").status_code == 401

    named = {
        "SECRET_KEY": SECRET_KEY,
        "the PAT": pat,
        "the webhook secret": webhooks.secret_for(endpoint),
        "HF_TOKEN": HF_TOKEN,
    }
    assert received[0]["headers"][webhooks.SIGNATURE_HEADER].startswith("t=")  # signed with the secret
    places = {"log records of this process": "\n".join(r.getMessage() for r in caplog.records).encode()}
    places["the worker's output"] = live.log.read_bytes()
    run_files = [p for p in (Path(settings.HONE_STORAGE) / "runs").rglob("*") if p.is_file()]
    assert any(p.name.startswith(("stdout", "stderr", "log")) or p.suffix == ".log" for p in run_files), (
        run_files
    )
    for path in run_files:
        places[str(path)] = path.read_bytes()
    found = {where: leaks(blob, named, attempt.token_hash) for where, blob in places.items()}
    assert not {where: names for where, names in found.items() if names}


def test_the_search_finds_each_kind_of_secret() -> None:
    token = secrets.token_urlsafe(32).encode()
    blob = b"started with token=" + token + b" key=" + SECRET_KEY.encode()
    found = leaks(blob, {"SECRET_KEY": SECRET_KEY, "HF_TOKEN": HF_TOKEN}, hashlib.sha256(token).hexdigest())
    assert found == ["SECRET_KEY", "the events token"]
