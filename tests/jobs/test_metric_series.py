"""Metric series downsampled in the database: exact for short series, bounded for long ones,
with exact end points and the extremes kept, in a fixed number of queries."""

from __future__ import annotations

import random

import pytest

from jobs.models import Attempt, Job, MetricPoint
from jobs.web import metric_series


@pytest.fixture
def job(team, tiny_model, dataset) -> Job:
    return Job.objects.create(team=team, name="long run", base_model=tiny_model, dataset=dataset)


def add_points(job: Job, name: str, points: list[tuple[int, float]]) -> None:
    attempt = Attempt.objects.get_or_create(
        job=job, number=1, defaults={"executor": "local", "status": "running"}
    )[0]
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, attempt=attempt, name=name, step=s, value=v) for s, v in points],
        batch_size=5000,
    )


def test_a_short_series_comes_back_exactly(job):
    points = [(step, 3.0 - step / 100) for step in range(1, 121)]
    add_points(job, "train/loss", points)
    add_points(job, "eval/loss", [(10, 2.5), (20, 2.25)])
    series = metric_series.for_job(job.pk)
    assert series["train/loss"] == points
    assert series["eval/loss"] == [(10, 2.5), (20, 2.25)]


def test_a_long_series_is_bounded_with_exact_ends_and_its_extremes(job):
    rng = random.Random(0)
    points = [(step, 3 / (1 + step / 500) + rng.uniform(-0.1, 0.1)) for step in range(1, 6_001)]
    points[2000] = (2001, 9.5)  # a spike must survive
    points[4000] = (4001, -1.0)
    add_points(job, "train/loss", points)
    got = metric_series.for_job(job.pk)["train/loss"]
    assert len(got) <= metric_series.MAX_POINTS
    assert got[0] == points[0] and got[-1] == points[-1]  # the final loss is the real one
    values = [value for _step, value in got]
    assert 9.5 in values and -1.0 in values
    steps = [step for step, _value in got]
    assert steps == sorted(steps)


def test_a_sparse_series_that_fits_comes_back_exactly(job):
    points = [(step, 1 / step) for step in range(1, 30_001, 100)]  # 300 points over 30 000 steps
    add_points(job, "eval/loss", points)
    assert metric_series.for_job(job.pk)["eval/loss"] == points


def test_since_keeps_only_later_points_and_their_ends(job):
    points = [(step, float(step % 11)) for step in range(1, 2001)]
    add_points(job, "train/loss", points)
    [extent] = metric_series.extents([job.pk], None, since=1000).values()
    assert (extent.count, extent.first, extent.last) == (1000, 1001, 2000)
    got = metric_series.points_of({(job.pk, "train/loss"): extent}, since=1000, max_points=20)[
        (job.pk, "train/loss")
    ]
    assert len(got) <= 20 and got[0] == points[1000] and got[-1] == points[-1]
    assert all(step > 1000 for step, _value in got)


def test_every_returned_value_is_a_real_value_of_its_range(job):
    points = [(step, float(step % 7)) for step in range(1, 3001)]
    add_points(job, "train/loss", points)
    real = {value for _step, value in points}
    assert {value for _step, value in metric_series.for_job(job.pk)["train/loss"]} <= real


def test_series_of_several_jobs_stay_apart(job, team, tiny_model, dataset):
    other = Job.objects.create(team=team, name="other", base_model=tiny_model, dataset=dataset)
    add_points(job, "train/loss", [(1, 1.0), (2, 0.5)])
    add_points(other, "train/loss", [(1, 2.0), (2, 1.5), (3, 1.0)])
    series = metric_series.downsampled([job.pk, other.pk])
    assert series[(job.pk, "train/loss")] == [(1, 1.0), (2, 0.5)]
    assert series[(other.pk, "train/loss")] == [(1, 2.0), (2, 1.5), (3, 1.0)]
    assert metric_series.downsampled([job.pk], ["eval/loss"]) == {}
    assert metric_series.downsampled([]) == {}


@pytest.mark.parametrize("size", [50, 5_000])
def test_three_queries_whatever_the_size(job, size, django_assert_num_queries):
    add_points(job, "train/loss", [(s, 1 / s) for s in range(1, size + 1)])
    add_points(job, "train/learning_rate", [(s, 1e-4) for s in range(1, size + 1, 10)])
    with django_assert_num_queries(3):
        series = metric_series.for_job(job.pk)
    assert set(series) == {"train/loss", "train/learning_rate"}
