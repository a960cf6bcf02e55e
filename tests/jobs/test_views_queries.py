"""Pages that grow with use make the same number of SQL queries however much there is to show
(bench/ui_render.py measures their time with 10,000 jobs and 100,000 metric points)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Attempt, Event, Job, MetricPoint
from trainers.spec import LoraParams, TrainingParams

PARAMS = {"lora": LoraParams().model_dump(), "training": TrainingParams().model_dump()}


def queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def add_jobs(team, model, dataset, count: int) -> list[Job]:
    return Job.objects.bulk_create(
        Job(team=team, name=f"run {i}", base_model=model, dataset=dataset, status="running", params=PARAMS)
        for i in range(count)
    )


def add_points(job: Job, attempt: Attempt, first: int, count: int) -> None:
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=name, step=step, value=1 / step)
        for step in range(first, first + count)
        for name in ("train/loss", "eval/loss", "train/learning_rate", "eval/perplexity")
    )
    Event.objects.bulk_create(
        Event(
            attempt=attempt, seq=1000 + step, kind="log", time=timezone.now(), payload={"message": f"{step}"}
        )
        for step in range(first, first + count)
    )


@pytest.fixture
def logged_in(client, member):
    client.force_login(member)
    client.get("/")  # the session and the user are cached from here on
    return client


def test_the_jobs_list_does_not_query_per_job(logged_in, team, tiny_model, dataset):
    add_jobs(team, tiny_model, dataset, 5)
    with_5 = queries(logged_in, "/jobs/")
    add_jobs(team, tiny_model, dataset, 45)
    assert queries(logged_in, "/jobs/") == with_5
    assert queries(logged_in, "/jobs/?q=run&status=running&kind=train") == with_5


@pytest.mark.parametrize("path", ["/jobs/{pk}/", "/jobs/{pk}/live/"])
def test_the_job_page_does_not_query_per_point_log_line_or_attempt(
    logged_in, team, tiny_model, dataset, path
):
    job = add_jobs(team, tiny_model, dataset, 1)[0]
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="preempted")
    add_points(job, attempt, 1, 5)
    with_5 = queries(logged_in, path.format(pk=job.pk))
    second = Attempt.objects.create(job=job, number=2, executor="local", status="running")
    add_points(job, second, 6, 45)
    assert queries(logged_in, path.format(pk=job.pk)) == with_5


def test_the_compare_page_does_not_query_per_job_or_point(logged_in, team, tiny_model, dataset):
    jobs = add_jobs(team, tiny_model, dataset, 5)
    for job in jobs:
        attempt = Attempt.objects.create(job=job, number=1, executor="local")
        add_points(job, attempt, 1, 5)
    with_2 = queries(logged_in, f"/jobs/compare/?ids={jobs[0].pk},{jobs[1].pk}")
    for job in jobs:
        add_points(job, job.attempts.get(), 6, 45)
    assert queries(logged_in, "/jobs/compare/?ids=" + ",".join(str(j.pk) for j in jobs)) == with_2
