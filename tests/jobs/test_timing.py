"""The time estimate: a range, calibrated by how long the profile's recent runs really took."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.guided import timing
from jobs.models import Attempt, ComputeProfile, Job
from tests.jobs.test_views_wizard import url
from trainers import estimate
from trainers.estimate import TimeEstimate
from trainers.spec import LoraParams, TrainingParams


def finished_run(team, model, dataset, took_s: float, *, profile=None, attempts: int = 1) -> Job:
    params = {
        "objective": "sft",
        "lora": LoraParams(r=8, alpha=16).model_dump(),
        "training": TrainingParams(epochs=1, max_seq_length=64).model_dump(),
    }
    job = Job.objects.create(
        team=team,
        name="past",
        base_model=model,
        dataset=dataset,
        status="succeeded",
        params=params,
        profile=profile,
        attempt_count=attempts,
    )
    end = timezone.now()
    Attempt.objects.create(
        job=job,
        number=1,
        executor="local",
        status="succeeded",
        started_at=end - timedelta(seconds=took_s),
        finished_at=end,
    )
    return job


@pytest.fixture
def local(db):
    return ComputeProfile.objects.get(name="local")


def test_the_ratio_is_measured_against_the_jobs_own_estimate(team, tiny_model, dataset, local):
    job = finished_run(team, tiny_model, dataset, 1.0)
    predicted = timing.estimated_seconds(job, local)
    job.attempts.update(
        started_at=timezone.now() - timedelta(seconds=3 * predicted), finished_at=timezone.now()
    )
    assert timing.measured_ratios(local) == [pytest.approx(3.0, rel=0.01)]


def test_retried_runs_and_other_profiles_do_not_calibrate(team, tiny_model, dataset, local):
    other = ComputeProfile.objects.create(name="gpu", executor="kubernetes", gpu_count=1, gpu_type="h100")
    finished_run(team, tiny_model, dataset, 100.0, attempts=2)
    finished_run(team, tiny_model, dataset, 100.0, profile=other)
    assert timing.measured_ratios(local) == []


def test_calibration_takes_the_median_and_widens_to_the_extremes():
    time = TimeEstimate(10, 0, 100.0, low=70.0, high=200.0)
    scaled = estimate.calibrated(time, [1.5, 3.0, 2.0])
    assert (scaled.seconds, scaled.low, scaled.high) == pytest.approx((200.0, 135.0, 330.0))
    assert estimate.calibrated(time, []) == time


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [(14, 40, "14–40 s"), (130, 300, "2–5 min"), (3000, 8000, "0.5–2.5 h"), (5, 5, "5 s")],
)
def test_the_range_reads_in_the_unit_of_its_upper_end(low, high, text):
    assert timing.range_text(TimeEstimate(1, 0, low, low=low, high=high)) == text


def test_the_review_page_shows_the_calibrated_range(client, member, team, tiny_model, dataset, local):
    choices = {"goal": "chat", "dataset": dataset.pk, "model": tiny_model.pk, "preset": "quick"}
    client.force_login(member)

    def time_line() -> str:
        body = client.get(url("review", **choices, max_length=64)).content.decode()
        return re.search(r"Time</span>(.*?)</p>", re.sub(r"\s+", " ", body)).group(1)

    first = time_line()
    assert "a first estimate" in first
    job = finished_run(team, tiny_model, dataset, 1.0)
    predicted = timing.estimated_seconds(job, local)
    job.attempts.update(
        started_at=timezone.now() - timedelta(seconds=5 * predicted), finished_at=timezone.now()
    )
    calibrated = time_line()
    assert "from how long the last 1 training run on local really took" in calibrated
    assert calibrated != first


def test_a_past_grpo_run_is_estimated_as_grpo_with_its_generation(team, tiny_model, dataset, local):
    from trainers.objectives.grpo_params import GrpoParams

    job = finished_run(team, tiny_model, dataset, 1.0)
    as_sft = timing.estimated_seconds(job, local)
    del job.params["objective"]  # as launch() stores a job: the objective is the job's column
    job.objective = "grpo"
    job.params["grpo"] = GrpoParams(num_generations=8, max_completion_length=32).model_dump(mode="json")
    assert timing.estimated_seconds(job, local) > 1.5 * as_sft  # start-up dominates a tiny model
