"""The trainers' ingest endpoint (/api/v1/attempts/<job>/<n>/events) on PostgreSQL's fast path:
what a batch can hold never becomes a 500, and a batch is applied exactly as event by event."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from jobs.models import Event, Job, MetricPoint
from tests.api.helpers import make_attempt

TOKEN = "events-token"


@pytest.fixture
def attempt(job):
    attempt = make_attempt(job)
    type(attempt).objects.filter(pk=attempt.pk).update(token_hash=hashlib.sha256(TOKEN.encode()).hexdigest())
    return attempt


def post(client, attempt, events):
    return client.post(
        reverse("ingest_events", args=[attempt.job_id, attempt.number]),
        {"events": events},
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def metric(seq: int, step: int, value, name: str = "loss") -> dict:
    return {"seq": seq, "kind": "metric", "name": name, "step": step, "value": value, "split": "train"}


def test_a_step_logged_twice_in_one_batch_keeps_the_newest_value(client, attempt):
    response = post(client, attempt, [metric(1, 5, 2.0), metric(2, 5, 1.5), metric(3, 6, 1.0)])
    assert response.json() == {"received": 3, "new": 3}
    assert dict(MetricPoint.objects.values_list("step", "value")) == {5: 1.5, 6: 1.0}


def test_a_resent_batch_stores_nothing_new(client, attempt):
    post(client, attempt, [metric(1, 1, 2.0), metric(2, 2, 1.0)])
    assert post(client, attempt, [metric(2, 2, 9.0), metric(3, 3, 0.5)]).json() == {"received": 2, "new": 1}
    assert dict(MetricPoint.objects.values_list("step", "value")) == {1: 2.0, 2: 1.0, 3: 0.5}
    assert list(Event.objects.filter(attempt=attempt).values_list("seq", flat=True)) == [1, 2, 3]


def test_payloads_postgresql_would_refuse_are_cleaned(client, attempt):
    body = (
        '{"events": [{"seq": 1, "kind": "log", "level": "info", "message": "a\\u0000b", "x": NaN},'
        ' {"seq": 2, "kind": "metric", "name": "loss", "step": 1, "value": Infinity}]}'
    )
    url = reverse("ingest_events", args=[attempt.job_id, attempt.number])
    response = client.post(
        url, body, content_type="application/json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.content
    log = Event.objects.get(seq=1)
    assert log.payload == {"level": "info", "message": "ab", "x": None}
    assert MetricPoint.objects.get().value == float("inf")


@pytest.mark.parametrize(
    "event", [{"seq": 2**31, "kind": "log"}, {"seq": 1, "kind": "log", "time": "not a time"}]
)
def test_out_of_range_or_odd_events_are_not_500s(client, attempt, event):
    assert post(client, attempt, [event]).status_code in (200, 400)


def test_a_metric_with_an_impossible_step_or_name_is_skipped(client, attempt):
    events = [metric(1, 2**31, 1.0), metric(2, 1, 1.0, name="x" * 200), metric(3, 1, True), metric(4, 1, 1.0)]
    assert post(client, attempt, events).json() == {"received": 4, "new": 4}
    assert list(MetricPoint.objects.values_list("name", "step")) == [("train/loss", 1)]


def test_only_the_newest_progress_moves_the_job(client, attempt, django_assert_max_num_queries):
    events = [
        {"seq": i, "kind": "progress", "step": i, "total": 100, "eta_seconds": 100 - i} for i in range(1, 51)
    ]
    with django_assert_max_num_queries(12):  # not two queries per progress event
        post(client, attempt, events)
    job = Job.objects.get(pk=attempt.job_id)
    assert (job.step, job.total_steps, job.eta_seconds) == (50, 100, 50)


def test_refusals_use_the_apis_problem_format(client, attempt):
    from tests.api.helpers import problem

    url = reverse("ingest_events", args=[attempt.job_id, attempt.number])
    problem(client.post(url, {"events": []}, content_type="application/json"), 401)
    bad = client.post(url, "{", content_type="application/json", headers={"Authorization": f"Bearer {TOKEN}"})
    problem(bad, 400)


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        ({"seq": 0, "kind": "log", "message": "m"}, "events[1].seq must be a positive integer, got 0"),
        ({"seq": 2, "kind": "epoch"}, "events[1].kind must be one of ['artifact', 'checkpoint', 'finished',"),
        ("line", "events[1] is not an object"),
    ],
)
def test_a_batch_holding_something_that_is_no_event_is_refused_whole(client, attempt, bad, detail):
    from tests.api.helpers import problem

    body = problem(post(client, attempt, [metric(1, 1, 2.0), bad]), 400)
    assert body["detail"].startswith(detail)
    assert not Event.objects.exists() and not MetricPoint.objects.exists()


def test_an_event_with_wrong_fields_is_kept_for_display_but_not_applied(client, attempt):
    """The typed models (trainers/events.py) decide: a progress without its total moves nothing,
    a step given as text is no step, an artifact's size must be a number."""
    events = [
        {"seq": 1, "kind": "progress", "step": 3},
        metric(2, "4", 1.0),
        {"seq": 3, "kind": "artifact", "name": "adapter", "artifact_kind": "adapter", "location": "/x",
         "bytes": "12", "sha256": "0" * 64},
        metric(4, 5, 0.5),
    ]
    assert post(client, attempt, events).json() == {"received": 4, "new": 4}
    assert list(Event.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert list(MetricPoint.objects.values_list("step", "value")) == [(5, 0.5)]
    job = Job.objects.get(pk=attempt.job_id)
    assert job.step != 3 and not job.artifacts.exists()


def test_an_artifact_event_records_the_artifact(client, attempt, settings):
    from pathlib import Path

    location = Path(settings.HONE_STORAGE) / "runs" / "adapter"
    event = {"seq": 1, "kind": "artifact", "name": "adapter", "artifact_kind": "adapter",
             "location": str(location), "bytes": 12, "sha256": "a" * 64}
    post(client, attempt, [event])
    artifact = Job.objects.get(pk=attempt.job_id).artifacts.get()
    assert (artifact.kind, artifact.location, artifact.bytes, artifact.sha256) == (
        "adapter", "runs/adapter", 12, "a" * 64
    )
