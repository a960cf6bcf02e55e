"""The events ingest endpoint: token per attempt, idempotent by sequence number."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from jobs.lifecycle import services
from jobs.models import Attempt, Event, Job, MetricPoint

TOKEN = "attempt-token-123"


@pytest.fixture
def attempt(team, member, tiny_model, dataset):
    job = Job.objects.create(
        team=team, created_by=member, name="j", base_model=tiny_model, dataset=dataset, status="running"
    )
    return Attempt.objects.create(
        job=job,
        number=1,
        executor="local",
        status="running",
        token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
    )


def post(client, attempt, events, token=TOKEN):
    url = reverse("ingest_events", args=[attempt.job_id, attempt.number])
    return client.post(
        url, {"events": events}, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


def metric(seq: int, step: int, value: float) -> dict:
    return {
        "seq": seq,
        "kind": "metric",
        "time": "2026-11-22T10:00:00+00:00",
        "name": "loss",
        "step": step,
        "value": value,
        "split": "train",
    }


def test_it_stores_events_and_metrics(client, attempt):
    response = post(client, attempt, [metric(1, 1, 2.0), metric(2, 2, 1.5)])
    assert response.status_code == 200
    assert response.json() == {"received": 2, "new": 2}
    assert list(MetricPoint.objects.values_list("step", "value")) == [(1, 2.0), (2, 1.5)]


def test_a_resent_batch_changes_nothing(client, attempt):
    post(client, attempt, [metric(1, 1, 2.0)])
    response = post(client, attempt, [metric(1, 1, 99.0), metric(2, 2, 1.5)])
    assert response.json() == {"received": 2, "new": 1}
    assert MetricPoint.objects.get(step=1).value == 2.0
    assert Event.objects.filter(attempt=attempt).count() == 2


def test_progress_moves_the_job(client, attempt):
    post(client, attempt, [{"seq": 1, "kind": "progress", "step": 5, "total": 20, "eta_seconds": 30.0}])
    attempt.job.refresh_from_db()
    assert (attempt.job.step, attempt.job.total_steps, attempt.job.eta_seconds) == (5, 20, 30.0)


def test_it_refuses_a_wrong_token(client, attempt):
    assert post(client, attempt, [metric(1, 1, 2.0)], token="nope").status_code == 401
    assert not Event.objects.exists()


def test_another_attempts_token_does_not_work(client, attempt):
    other = Attempt.objects.create(
        job=attempt.job,
        number=2,
        executor="local",
        status="failed",
        token_hash=hashlib.sha256(b"other").hexdigest(),
    )
    assert post(client, other, [metric(1, 1, 2.0)], token=TOKEN).status_code == 401


@pytest.mark.parametrize(
    "events, where",
    [
        ("nope", "'events' must be a list"),
        ([{"kind": "metric"}], "events[0].seq"),
        ([{"seq": 1, "kind": "explode"}], "events[0].kind"),
        ([metric(1, 1, 1.0), {"seq": -3, "kind": "log"}], "events[1].seq"),
    ],
)
def test_malformed_events_get_a_400_naming_the_event(client, attempt, events, where):
    response = post(client, attempt, events)
    assert response.status_code == 400
    assert where in response.json()["detail"]
    assert not Event.objects.exists()


def test_an_artifact_outside_storage_is_refused(client, attempt):
    event = {
        "seq": 1,
        "kind": "artifact",
        "name": "adapter",
        "artifact_kind": "adapter",
        "location": "/etc",
        "bytes": 1,
        "sha256": "0" * 64,
    }
    post(client, attempt, [event])
    assert not attempt.job.artifacts.exists()


def test_verify_token_refuses_empty_values(attempt):
    assert services.verify_token(attempt, TOKEN)
    assert not services.verify_token(attempt, "")
