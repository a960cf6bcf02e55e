"""A job's metric series (incremental, downsampled), log tail and samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.models import Event, MetricPoint
from tests.api.helpers import fields, make_attempt, problem


@pytest.fixture
def attempt(job):
    return make_attempt(job)


@pytest.fixture
def metrics(job, attempt):
    points = [
        MetricPoint(job=job, attempt=attempt, name="train/loss", step=s, value=10.0 / s)
        for s in range(1, 101)
    ]
    points += [MetricPoint(job=job, attempt=attempt, name="eval/loss", step=s, value=1.0) for s in (50, 100)]
    MetricPoint.objects.bulk_create(points)


def series(body: dict) -> dict:
    return {s["name"]: s for s in body["series"]}


def test_every_series_by_default(as_member, job, metrics):
    body = as_member.get(f"/api/v1/jobs/{job.pk}/metrics").json()
    assert body["names"] == ["eval/loss", "train/loss"]
    train = series(body)["train/loss"]
    assert (train["count"], train["last_step"], train["downsampled"]) == (100, 100, False)
    assert train["points"][0] == {"step": 1, "value": 10.0}


def test_since_returns_only_newer_points(as_member, job, metrics):
    body = as_member.get(f"/api/v1/jobs/{job.pk}/metrics?name=train/loss&since=97").json()
    assert [p["step"] for p in series(body)["train/loss"]["points"]] == [98, 99, 100]
    assert list(series(body)) == ["train/loss"]
    empty = as_member.get(f"/api/v1/jobs/{job.pk}/metrics?name=train/loss&since=100").json()
    assert series(empty)["train/loss"] == {
        "name": "train/loss",
        "points": [],
        "count": 0,
        "last_step": None,
        "downsampled": False,
    }


def test_max_points_keeps_the_ends_and_the_extremes(as_member, job, metrics):
    body = as_member.get(f"/api/v1/jobs/{job.pk}/metrics?name=train/loss&name=eval/loss&max_points=10").json()
    train = series(body)["train/loss"]
    assert train["downsampled"] and len(train["points"]) <= 10
    assert train["points"][0] == {"step": 1, "value": 10.0}  # the ends are the real points
    assert train["points"][-1] == {"step": 100, "value": 0.1}
    values = [p["value"] for p in train["points"]]
    assert set(values) <= {10.0 / s for s in range(1, 101)}  # every value is one that was logged
    assert len(series(body)["eval/loss"]["points"]) == 2


def test_a_spike_survives_downsampling(as_member, job, attempt):
    values = {s: 1.0 for s in range(1, 1001)} | {537: 50.0}  # a loss spike a mean would hide
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, attempt=attempt, name="train/loss", step=s, value=v) for s, v in values.items()]
    )
    body = as_member.get(f"/api/v1/jobs/{job.pk}/metrics?max_points=20").json()
    points = series(body)["train/loss"]["points"]
    assert len(points) <= 20 and 50.0 in [p["value"] for p in points]


def test_downsampling_cuts_equal_step_ranges_in_the_database(as_member, job, attempt):
    steps = [*range(1, 1001), *range(5000, 5010)]  # a gap, as a resumed run may leave
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, attempt=attempt, name="train/loss", step=s, value=float(s)) for s in steps]
    )
    with_since = as_member.get(f"/api/v1/jobs/{job.pk}/metrics?max_points=5&since=500").json()
    train = series(with_since)["train/loss"]
    assert (train["count"], train["last_step"], train["downsampled"]) == (510, 5009, True)
    # Two ranges of (5009 - 501 + 1) / 2 steps: the first holds 501-1000, the second 5000-5009;
    # each comes as its first and last step with its lowest and highest value.
    assert [(p["step"], p["value"]) for p in train["points"]] == [
        (501, 501.0),
        (1000, 1000.0),
        (5000, 5000.0),
        (5009, 5009.0),
    ]


def test_values_that_are_not_finite_are_null(as_member, job, attempt):
    MetricPoint.objects.create(job=job, attempt=attempt, name="train/loss", step=1, value=float("nan"))
    body = as_member.get(f"/api/v1/jobs/{job.pk}/metrics").json()
    assert series(body)["train/loss"]["points"] == [{"step": 1, "value": None}]


@pytest.mark.parametrize("query", ["max_points=1", "max_points=x", "since=abc"])
def test_bad_metric_queries_are_400s(as_member, job, query):
    field = query.split("=")[0]
    assert field in fields(problem(as_member.get(f"/api/v1/jobs/{job.pk}/metrics?{query}"), 400))


def log(attempt, seq: int, message: str) -> Event:
    return Event.objects.create(
        attempt=attempt,
        seq=seq,
        kind="log",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        payload={"level": "info", "message": message},
    )


def test_the_log_tail_is_oldest_first_across_attempts(as_member, job, attempt):
    type(attempt).objects.filter(pk=attempt.pk).update(status="failed")
    second = make_attempt(job, 2, status="running")
    for seq in range(1, 4):
        log(attempt, seq, f"a1 line {seq}")
        log(second, seq, f"a2 line {seq}")
    body = as_member.get(f"/api/v1/jobs/{job.pk}/logs?tail=4").json()
    assert [line["message"] for line in body["lines"]] == ["a1 line 3", "a2 line 1", "a2 line 2", "a2 line 3"]
    only_first = as_member.get(f"/api/v1/jobs/{job.pk}/logs?attempt=1").json()
    assert [line["seq"] for line in only_first["lines"]] == [1, 2, 3]
    problem(as_member.get(f"/api/v1/jobs/{job.pk}/logs?tail=0"), 400)


def test_samples_come_from_the_latest_step(as_member, job, attempt):
    for seq, step, output in [(1, 10, "old"), (2, 20, "new a"), (3, 20, "new b")]:
        Event.objects.create(
            attempt=attempt,
            seq=seq,
            kind="sample",
            time=datetime(2026, 1, 1, tzinfo=UTC),
            payload={"step": step, "prompt": "p", "output": output, "expected": None},
        )
    body = as_member.get(f"/api/v1/jobs/{job.pk}/samples").json()
    assert [s["output"] for s in body["samples"]] == ["new a", "new b"]
    assert body["samples"][0] == {
        "attempt": 1,
        "step": 20,
        "prompt": "p",
        "output": "new a",
        "expected": None,
    }
