"""Events: what a trainer tells the platform while it runs.

One JSON object per line on stdout, always, flushed per line. When the spec names an ingest
URL the same events are also POSTed there in batches from a background thread. Delivery is
best effort: events are for display, and the reconciler decides whether an attempt lived or
died from the process exit, so a slow or broken endpoint must never block or crash training.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

log = logging.getLogger("trainers")

BATCH_MAX_EVENTS = 200
BATCH_MAX_WAIT_S = 0.5
CLOSE_WAIT_S = 5.0
BACKOFF_MAX_S = 10.0
# A platform that is down for hours must not make a trainer hold every event in memory.
PENDING_MAX_EVENTS = 50_000
# Library loggers whose warnings users should see; our own "trainers" logger also sends INFO.
LIBRARY_LOGGERS = ("transformers", "peft", "torch", "accelerate", "py.warnings")


def claim_stdout() -> TextIO:
    """Reserve the real stdout for events and send everything else written to it to stderr.

    Libraries print (and C extensions write to fd 1); the platform parses stdout line by line,
    so fd 1 is pointed at stderr and events get a private duplicate of the original stdout.
    """
    sys.stdout.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(events_fd, "w", encoding="utf-8", buffering=1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class EventEmitter:
    """Numbers events (per attempt, from 1), writes them to stdout and hands them to the HTTP sink."""

    def __init__(
        self, stream: TextIO | None = None, *, url: str | None = None, token: str | None = None
    ) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._sink = HttpSink(url, token) if url else None
        self._lock = threading.Lock()
        self._seq = 0
        self._finished = False

    def emit(self, kind: str, **fields: Any) -> dict:
        with self._lock:
            self._seq += 1
            event = {"seq": self._seq, "time": _now(), "kind": kind, **fields}
            try:
                self._stream.write(json.dumps(event, default=str) + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # whoever read stdout is gone; the HTTP sink and the exit code still tell the story
        if self._sink is not None:
            self._sink.put(event)
        return event

    def started(self, *, total_steps: int, epochs: float, trainable_params: int, total_params: int,
                device: str, model: str) -> dict:
        return self.emit("started", total_steps=total_steps, epochs=epochs, trainable_params=trainable_params,
                         total_params=total_params, device=device, model=model)

    def progress(self, *, step: int, total: int, epoch: float, eta_seconds: float | None,
                 samples_per_second: float | None) -> dict:
        return self.emit("progress", step=step, total=total, epoch=epoch, eta_seconds=eta_seconds,
                         samples_per_second=samples_per_second)

    def metric(self, name: str, *, step: int, value: float | None, split: str = "train") -> dict:
        # JSON has no NaN or infinity: a diverged loss goes out as null and the chart shows a gap.
        if value is not None and not math.isfinite(value):
            value = None
        return self.emit("metric", name=name, step=step, value=value, split=split)

    def log(self, message: str, level: str = "info") -> dict:
        return self.emit("log", level=level, message=message)

    def sample(self, *, step: int, prompt: str, output: str, expected: str | None = None) -> dict:
        return self.emit("sample", step=step, prompt=prompt, output=output, expected=expected)

    def checkpoint(self, *, step: int, location: str) -> dict:
        return self.emit("checkpoint", step=step, location=location)

    def artifact(self, *, name: str, artifact_kind: str, location: str, size: int, sha256: str) -> dict:
        """``artifact_kind`` (e.g. "adapter") because ``kind`` is the event's own kind."""
        return self.emit("artifact", name=name, artifact_kind=artifact_kind, location=location, bytes=size,
                         sha256=sha256)

    def finished(self, status: str, error: str | None = None) -> dict | None:
        """The last event of an attempt; a second call is ignored so error paths can't contradict it."""
        if self._finished:
            return None
        self._finished = True
        return self.emit("finished", status=status, error=error)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        if self._sink is not None:
            self._sink.close(wait_s)


class EventLogHandler(logging.Handler):
    """Turns logging records into ``log`` events so warnings show up in the web UI."""

    def __init__(self, emitter: EventEmitter, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.emitter = emitter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.emitter.log(self.format(record), level=record.levelname.lower())
        except Exception:  # a broken handler must not take training down with it
            self.handleError(record)


def _not_for_developers(record: logging.LogRecord) -> bool:
    """Deprecation notices between libraries mean nothing to the person training a model."""
    message = record.getMessage()
    return not ("FutureWarning" in message or "DeprecationWarning" in message or " deprecated" in message)


def route_logging(emitter: EventEmitter) -> Callable[[], None]:
    """Send library warnings and our own INFO logs to ``log`` events; returns a function that undoes it.

    Records still reach stderr as before (transformers keeps its own stderr handler).
    """
    attached: list[tuple[logging.Logger, logging.Handler]] = []
    for name in LIBRARY_LOGGERS:
        handler = EventLogHandler(emitter, logging.WARNING)
        handler.addFilter(_not_for_developers)
        attached.append((logging.getLogger(name), handler))
    attached.append((log, EventLogHandler(emitter, logging.INFO)))
    if not any(isinstance(h, logging.StreamHandler) for h in log.handlers):
        attached.append((log, logging.StreamHandler(sys.stderr)))
    for logger, handler in attached:
        logger.addHandler(handler)
    log.setLevel(logging.INFO)
    logging.captureWarnings(True)

    def undo() -> None:
        for logger, handler in attached:
            logger.removeHandler(handler)
        logging.captureWarnings(False)

    return undo
