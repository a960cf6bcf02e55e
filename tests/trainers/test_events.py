"""Events: JSON lines on stdout, batched HTTP delivery with a bearer token, logging routed to events."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.trainers.conftest import REPO, make_spec, run_trainer, write_jsonl, write_spec
from trainers.events import EventEmitter, route_logging

TOKEN = "hone-test-token-8c1f2e"


class Ingest:
    """A local ingest endpoint: answers with the queued statuses (then 200) and records requests."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = ingest.statuses.pop(0) if ingest.statuses else 200
                ingest.requests.append(
                    {"status": status, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
                )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/attempts/1/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [event for r in self.requests if r["status"] == 200 for event in r["body"]["events"]]


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    server = Ingest()
    yield server
    server.server.shutdown()


def test_events_are_json_lines_numbered_from_one() -> None:
    out = io.StringIO()
    emitter = EventEmitter(out)
    emitter.started(total_steps=10, epochs=1.0, trainable_params=5, total_params=50, device="cpu", model="m")
    emitter.metric("loss", step=1, value=2.5)
    emitter.metric("loss", step=1, value=float("nan"), split="eval")
    emitter.finished("succeeded")
    emitter.finished("failed", "ignored: the outcome was already reported")

    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert [e["kind"] for e in events] == ["started", "metric", "metric", "finished"]
    assert datetime.fromisoformat(events[0]["time"]).utcoffset().total_seconds() == 0
    assert events[1] | {"time": None} == {
        "seq": 2, "time": None, "kind": "metric", "name": "loss", "step": 1, "value": 2.5, "split": "train"
    }
    assert events[2]["value"] is None  # NaN is not JSON
    assert events[3]["status"] == "succeeded"


def test_stdout_carries_only_events() -> None:
    script = (
        "import os\n"
        "from trainers.events import EventEmitter, claim_stdout\n"
        "emitter = EventEmitter(claim_stdout())\n"
        "print('a library chatting')\n"
        "os.write(1, b'a C extension chatting\\n')\n"
        "emitter.log('hello')\n"
    )
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == ["hello"]
    assert "a library chatting" in result.stderr and "a C extension chatting" in result.stderr


def test_events_are_posted_with_the_bearer_token(ingest: Ingest) -> None:
    emitter = EventEmitter(io.StringIO(), url=ingest.url, token=TOKEN)
    for step in range(1, 451):
        emitter.metric("loss", step=step, value=1.0)
    emitter.close(wait_s=5)

    assert [e["seq"] for e in ingest.delivered()] == list(range(1, 451))
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in ingest.requests)
    assert len(ingest.requests) >= 3  # batches of at most 200
    assert max(len(r["body"]["events"]) for r in ingest.requests) <= 200


def test_a_failed_batch_is_sent_again() -> None:
    server = Ingest(statuses=[500])
    try:
        emitter = EventEmitter(io.StringIO(), url=server.url, token=TOKEN)
        emitter.log("one")
        emitter.log("two")
        emitter.close(wait_s=5)
    finally:
        server.server.shutdown()
    assert server.requests[0]["status"] == 500
    assert [e["message"] for e in server.delivered()] == ["one", "two"]


def test_a_refused_batch_is_dropped_not_retried() -> None:
    server = Ingest(statuses=[401])
    try:
        emitter = EventEmitter(io.StringIO(), url=server.url, token=TOKEN)
        emitter.log("one")
        emitter.close(wait_s=5)
    finally:
        server.server.shutdown()
    assert [r["status"] for r in server.requests] == [401]


def test_an_unreachable_endpoint_neither_blocks_nor_raises() -> None:
    out = io.StringIO()
    emitter = EventEmitter(out, url="http://127.0.0.1:9/unreachable", token=TOKEN)
    started = time.monotonic()
    for _ in range(100):
        emitter.log("still training")
    assert time.monotonic() - started < 0.5
    emitter.close(wait_s=1)
    assert time.monotonic() - started < 3
    assert len(out.getvalue().splitlines()) == 100


def test_the_cli_posts_events_and_never_shows_the_token(
    ingest: Ingest, tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", [{"instruction": "Say hi.", "input": "", "output": "hi"}] * 4)
    spec = make_spec(tiny_model_dir, data, tmp_path / "out", events={"url": ingest.url})
    spec["dataset"]["sha256"] = "0" * 64  # fails fast (exit 2) after events are wired up
    ingest.statuses = [500]

    run = run_trainer(write_spec(tmp_path / "spec.json", spec), timeout=90, HONE_EVENTS_TOKEN=TOKEN)

    assert run.returncode == 2, run.stderr
    assert run.of_kind("finished")[0]["status"] == "failed"
    assert ingest.delivered() == run.events  # the same events, the failed first batch sent again
    assert {r["auth"] for r in ingest.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in run.stdout and TOKEN not in run.stderr


def test_library_warnings_and_our_info_logs_become_log_events() -> None:
    out = io.StringIO()
    undo = route_logging(EventEmitter(out))
    try:
        logging.getLogger("transformers.trainer").warning("a warning users should see")
        logging.getLogger("transformers.trainer").info("library chatter")
        logging.getLogger("trainers").info("our own progress note")
    finally:
        undo()
    logging.getLogger("transformers.trainer").warning("after undo")

    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["level"], e["message"]) for e in events] == [
        ("warning", "a warning users should see"),
        ("info", "our own progress note"),
    ]

