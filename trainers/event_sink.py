"""Delivery of events to the platform's ingest endpoint: batches POSTed from a daemon thread.

Best effort by design (see ``trainers.events``): a slow or broken endpoint never blocks or
crashes training; stdout carries every event anyway, and the reconciler reads it.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request

BATCH_MAX_EVENTS = 200
BATCH_MAX_WAIT_S = 0.5
CLOSE_WAIT_S = 5.0
BACKOFF_MAX_S = 10.0
# A platform that is down for hours must not make a trainer hold every event in memory.
PENDING_MAX_EVENTS = 50_000


class HttpSink:
    """Posts batches of events to the ingest URL from a daemon thread, retrying with backoff."""

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self._token = token
        self._timeout_s = timeout_s
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="hone-events-http", daemon=True)
        self._thread.start()

    def put(self, event: dict) -> None:
        if self._queue.qsize() < PENDING_MAX_EVENTS:
            self._queue.put(event)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Deliver what is pending, waiting at most ``wait_s`` seconds."""
        self._deadline = time.monotonic() + wait_s
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout=wait_s + 0.5)

    def _run(self) -> None:
        done = False
        while not done:
            batch, done = self._next_batch()
            if batch:
                self._deliver(batch)

    def _next_batch(self) -> tuple[list[dict], bool]:
        """Block for the first event, then gather more until the batch is full or old enough."""
        item = self._queue.get()
        if item is None:
            return [], True
        batch, cutoff = [item], time.monotonic() + BATCH_MAX_WAIT_S
        while len(batch) < BATCH_MAX_EVENTS:
            try:
                item = self._queue.get(timeout=max(0.0, cutoff - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _deliver(self, batch: list[dict]) -> None:
        body = json.dumps({"events": batch}).encode("utf-8")
        delay = 0.25
        while True:
            error = self._post(body)
            if error is None:
                return
            if time.monotonic() + delay > self._deadline:
                print(f"hone events: gave up delivering {len(batch)} events: {error}", file=sys.stderr)
                return
            print(f"hone events: delivery failed ({error}); retrying in {delay:.2f}s", file=sys.stderr)
            if self._closing.is_set():
                time.sleep(delay)
            else:
                self._closing.wait(delay)  # close() cuts a long backoff short: one more try before exit
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _post(self, body: bytes) -> str | None:
        """POST one batch; return None on success, else a description of the failure.

        A 4xx other than 408/429 will not get better by retrying (bad token, attempt gone), so
        the batch is dropped; the messages never include the token.
        """
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                print(f"hone events: endpoint refused a batch with HTTP {exc.code}; dropped", file=sys.stderr)
                return None
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return type(exc).__name__ + (f": {exc.reason}" if isinstance(exc, urllib.error.URLError) else "")
