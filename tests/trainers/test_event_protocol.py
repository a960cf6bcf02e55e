"""The event protocol's typed models (trainers/events.py): what the emitter writes is what the one
parser reads, and a line that is no event is named as such."""

from __future__ import annotations

import io
import json

import pytest
from pydantic import TypeAdapter

from trainers import events
from trainers.events import EventEmitter, EventError, parse_event


def emitted() -> list[dict]:
    out = io.StringIO()
    emitter = EventEmitter(out)
    emitter.started(total_steps=4, epochs=1.0, trainable_params=10, total_params=100, device="cpu", model="m")
    emitter.progress(step=1, total=4, epoch=0.25, eta_seconds=3.0, samples_per_second=2.5)
    emitter.metric("loss", step=1, value=float("nan"))
    emitter.log("hello", level="warning")
    emitter.emit("log", level="info", message="matrix", labels=["a", "b"], confusion_matrix=[[1, 0], [0, 1]])
    emitter.sample(step=1, prompt="p", output="o", expected="e")
    emitter.emit("sample", step=0, prompt="p", output="o", expected=None, model="before")
    emitter.checkpoint(step=2, location="/tmp/checkpoint-2")
    emitter.artifact(name="adapter", artifact_kind="adapter", location="/tmp/a", bytes=12, sha256="0" * 64)
    emitter.finished("succeeded")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_everything_the_emitter_writes_parses_into_its_typed_event():
    lines = emitted()
    parsed = [parse_event(line) for line in lines]
    assert [type(e).__name__ for e in parsed] == [
        "Started", "Progress", "Metric", "Log", "Log", "Sample", "Sample", "Checkpoint", "Artifact",
        "Finished",
    ]  # fmt: skip
    assert [e.seq for e in parsed] == list(range(1, 11)) and all(e.time is not None for e in parsed)
    assert parsed[2].value is None  # NaN goes out as null: a gap, not an unreadable event
    assert parsed[4].model_extra == {"labels": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]]}
    artifact = parsed[8]
    assert (artifact.artifact_kind, artifact.bytes, artifact.location) == ("adapter", 12, "/tmp/a")
    union = TypeAdapter(events.Event)  # the discriminated union reads the same lines
    assert [type(union.validate_python(line)) for line in lines] == [type(e) for e in parsed]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1], "events[3] is not an object"),
        ({"kind": "log", "message": "m"}, "events[3].seq must be a positive integer, got None"),
        ({"seq": True, "kind": "log"}, "events[3].seq must be a positive integer, got True"),
        ({"seq": 2**31, "kind": "log"}, "events[3].seq must be a positive integer, got 2147483648"),
        ({"seq": 1, "kind": "progres"}, "events[3].kind must be one of ['artifact', 'checkpoint',"),
    ],
)
def test_what_is_no_event_is_refused_naming_the_field(raw, message):
    with pytest.raises(EventError) as refused:
        parse_event(raw, where="events[3]")
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"seq": 4, "kind": "metric", "name": "x", "step": "5", "value": 1.0}, "step: Input should be"),
        ({"seq": 4, "kind": "metric", "name": "x", "step": 5, "value": True}, "value: Input should be"),
        ({"seq": 4, "kind": "progress", "step": 1}, "total: Field required"),
        ({"seq": 4, "kind": "finished", "status": "done"}, "status: Input should be 'succeeded', 'failed'"),
    ],
)
def test_an_event_whose_own_fields_are_wrong_is_kept_as_unreadable(raw, problem):
    event = parse_event(raw)
    assert isinstance(event, events.Unreadable) and (event.seq, event.kind) == (4, raw["kind"])
    assert problem in event.problem


def test_an_unreadable_clock_is_left_for_the_platform_to_stamp():
    event = parse_event({"seq": 1, "kind": "log", "message": "m", "time": "2026-13-40T99:00:00Z"})
    assert isinstance(event, events.Log) and event.time is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"seq": 1, "kind": "log", "message": "m"}\n', {"seq": 1, "kind": "log", "message": "m"}),
        (b'{"kind": "log", "message": "no seq"}\n', None),  # both executors: no seq, no event
        (b"Loading checkpoint shards: 100%\n", None),
        (b"[1, 2]\n", None),
    ],
)
def test_decode_line_takes_only_json_objects_with_a_seq(line, expected):
    assert events.decode_line(line) == expected
