"""Events: what a trainer tells the platform while it runs, and the one parser of an event.

One JSON object per line on stdout, always, flushed per line. When the spec names an ingest
URL the same events are also POSTed there in batches from a background thread. Delivery is
best effort: events are for display, and the reconciler decides whether an attempt lived or
died from the process exit, so a slow or broken endpoint must never block or crash training.

The protocol is the typed models below, one per ``kind`` (``Event`` is their union): every event
has ``seq`` (per attempt, from 1: ingest is idempotent on it), ``time`` and ``kind``, then the
kind's own fields; more fields are allowed and kept (a classifier's confusion matrix on a
``log``, the "before"/"after" ``model`` of a quantize ``sample``). An artifact's kind travels as
``artifact_kind``, since ``kind`` is the event's own. ``parse_event`` is the one parser: the
platform's ingest, both executors (through ``decode_line``) and the test trainer use it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainers.event_sink import CLOSE_WAIT_S, HttpSink

log = logging.getLogger("trainers")

# Library loggers whose warnings users should see; our own "trainers" logger also sends INFO.
LIBRARY_LOGGERS = ("transformers", "peft", "torch", "accelerate", "py.warnings")


MAX_INT = 2**31 - 1  # seq and step are 32-bit integers on the platform
ENVELOPE = ("seq", "kind", "time")


class EventError(ValueError):
    """Not an event: the message names the field, e.g. ``events[3].seq must be a positive integer``."""


class BaseEvent(BaseModel):
    # Strict: a step of "5" or a value of true is not a number. Extra fields are kept.
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    seq: int = Field(ge=1, le=MAX_INT)
    time: datetime | None = Field(None, strict=False)  # unreadable: None, the platform stamps it


class Started(BaseEvent):
    kind: Literal["started"] = "started"
    total_steps: int | None = None
    epochs: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    device: str | None = None
    model: str | None = None


class Progress(BaseEvent):
    kind: Literal["progress"] = "progress"
    step: int = Field(ge=0, le=MAX_INT)
    total: int = Field(ge=0, le=MAX_INT)
    epoch: float | None = None
    eta_seconds: float | None = None
    samples_per_second: float | None = None


class Metric(BaseEvent):
    kind: Literal["metric"] = "metric"
    name: str
    step: int = Field(ge=0, le=MAX_INT)
    value: float | None  # None: not a finite number (a diverged loss); the chart shows a gap
    split: str = "train"


class Log(BaseEvent):
    kind: Literal["log"] = "log"
    level: str = "info"
    message: str


class Sample(BaseEvent):
    kind: Literal["sample"] = "sample"
    step: int
    prompt: str
    output: str
    expected: str | None = None


class Checkpoint(BaseEvent):
    kind: Literal["checkpoint"] = "checkpoint"
    step: int
    location: str


class Artifact(BaseEvent):
    kind: Literal["artifact"] = "artifact"
    name: str
    artifact_kind: str  # "adapter", "model", "gguf", "report", ...: the kind of the artifact itself
    location: str
    bytes: int = Field(ge=0)
    sha256: str


class Finished(BaseEvent):
    kind: Literal["finished"] = "finished"
    status: Literal["succeeded", "failed", "cancelled"]
    error: str | None = None


class Unreadable(BaseEvent):
    """An event of a known kind whose own fields do not fit it: kept for display, never applied."""

    kind: str
    problem: str


Event = Annotated[
    Started | Progress | Metric | Log | Sample | Checkpoint | Artifact | Finished, Field(discriminator="kind")
]
EVENT_TYPES: dict[str, type[BaseEvent]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Started, Progress, Metric, Log, Sample, Checkpoint, Artifact, Finished)
}
KINDS = tuple(EVENT_TYPES)


def parse_event(raw: object, where: str = "event") -> BaseEvent:
    """The typed event (one of ``Event``), or ``Unreadable`` where only its own fields are wrong.

    Raises EventError when ``raw`` is no event at all (not an object, no valid ``seq``, an unknown
    ``kind``), naming ``where`` (e.g. ``events[3]``)."""
    if not isinstance(raw, dict):
        raise EventError(f"{where} is not an object")
    seq, kind = raw.get("seq"), raw.get("kind")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_INT:
        raise EventError(f"{where}.seq must be a positive integer, got {seq!r}")
    if kind not in EVENT_TYPES:
        raise EventError(f"{where}.kind must be one of {sorted(KINDS)}, got {kind!r}")
    model = EVENT_TYPES[kind]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
    if all(e["loc"] == ("time",) for e in errors):  # a clock the platform cannot read: it stamps it
        return parse_event({**raw, "time": None}, where)
    problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    time = raw.get("time") if isinstance(raw.get("time"), str) else None
    try:
        return Unreadable.model_validate({"seq": seq, "time": time, "kind": kind, "problem": problem})
    except ValidationError:
        return Unreadable(seq=seq, kind=kind, problem=problem)


def decode_line(line: bytes | str) -> dict | None:
    """The event object on one line of a trainer's stdout, or None for anything else there (a
    library's stray output, a partial line): a JSON object with a ``seq``."""
    try:
        decoded = json.loads(line)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) and "seq" in decoded else None


def parse_line(line: bytes | str) -> BaseEvent | None:
    """``decode_line`` then ``parse_event``: None where the line is no event."""
    decoded = decode_line(line)
    return None if decoded is None else parse_event(decoded)


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

    def sample(
        self, *, step: int, prompt: str, output: str, expected: str | None = None, **extra: Any
    ) -> dict:
        """``extra``: what else the objective shows with it (GRPO: the ``rewards`` it scored)."""
        return self.emit("sample", step=step, prompt=prompt, output=output, expected=expected, **extra)

    def checkpoint(self, *, step: int, location: str) -> dict:
        return self.emit("checkpoint", step=step, location=location)

    def artifact(self, *, name: str, artifact_kind: str, location: str, bytes: int, sha256: str) -> dict:
        """``artifact_kind`` (e.g. "adapter") because ``kind`` is the event's own kind."""
        return self.emit("artifact", name=name, artifact_kind=artifact_kind, location=location, bytes=bytes,
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
