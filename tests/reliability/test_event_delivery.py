"""Event delivery failing for the whole run: the trainer keeps going, and the reconciler
recovers every event from the trainer's stdout, so the job ends with its full history."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs import launch
from jobs.executors import registry
from jobs.lifecycle import services
from jobs.models import Artifact, MetricPoint
from tests.support.waiting import wait_for

PARAMS = {"lora": {"r": 8}, "training": {"epochs": 1, "batch_size": 8}}  # 14 steps, each printed


class Unavailable(BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        Unavailable.hits += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def finished(job) -> bool:
    """One reconcile pass (what beat runs every few seconds); has the job ended?"""
    services.reconcile()
    job.refresh_from_db()
    return job.status in ("succeeded", "failed")


@pytest.fixture
def broken_ingest(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.HONE_INGEST_URL = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


def test_a_run_whose_events_never_arrive_ends_with_its_full_history(
    broken_ingest, team, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        job = launch.launch_training(
            team=team, user=member, name="offline", base_model=tiny_model, dataset=dataset, params=PARAMS
        )
    attempt = services.dispatch(job.pk)
    wait_for(lambda: finished(job), timeout=180, what="the job to finish")
    assert job.status == "succeeded", job.error
    assert Unavailable.hits > 0  # the trainer really tried, and was refused
    printed = (registry.current().run_dir(job.pk, attempt.number) / "events.jsonl").read_text().splitlines()
    metrics = {
        (e["split"] + "/" + e["name"], e["step"])
        for e in map(json.loads, printed)
        if e["kind"] == "metric" and e["value"] is not None
    }
    stored = set(MetricPoint.objects.filter(job=job).values_list("name", "step"))
    assert stored == metrics and len(stored) > 10
    assert attempt.events.count() == len(printed)
    assert Artifact.objects.filter(job=job, kind="adapter").exists()
