"""In a real browser: the checkable goal's checks show only for that goal, and a grpo job's page
draws its Reward chart beside the loss without a console error (see test_first_hour_browser.py)."""

from __future__ import annotations

import pytest

from jobs.models import Attempt, Job, MetricPoint
from tests.jobs.test_first_hour_browser import browser, log_in, page  # noqa: F401
from trainers.spec import TrainingParams

pytestmark = pytest.mark.integration


def test_the_checks_show_only_for_the_checkable_goal(member, page):  # noqa: F811
    log_in(page, member.username)
    page.goto("/jobs/guided/")
    checks = page.locator("fieldset.reward-checks")
    page.get_by_label("Chat assistant").check()
    assert not checks.is_visible()
    page.get_by_label("Solve checkable tasks").check()
    assert checks.is_visible()
    assert page.get_by_label("The answer is the expected text", exact=False).is_checked()
    page.get_by_label("The answer is the same number or expression (0.5", exact=False).check()
    page.get_by_role("button", name="Continue: choose the data").click()
    assert "grpo__rewards=math" in page.url and "goal=checkable" in page.url
    assert page.problems == []


@pytest.fixture
def grpo_job(team, member, tiny_model, dataset) -> Job:
    rewards = [{"name": "exact_match", "weight": 1.0, "params": {}}]
    job = Job.objects.create(
        team=team, created_by=member, name="rl", base_model=tiny_model, dataset=dataset, objective="grpo",
        status="succeeded", step=20, total_steps=20,
        params={"training": TrainingParams().model_dump(), "grpo": {"rewards": rewards}},
    )  # fmt: skip
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="succeeded")
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=name, step=s, value=s / 20)
        for name in ("train/reward", "train/reward_exact_match", "train/loss")
        for s in range(1, 21)
    )
    return job


def test_a_grpo_job_page_draws_the_reward_chart(member, grpo_job, page):  # noqa: F811
    log_in(page, member.username)
    page.goto(f"/jobs/{grpo_job.pk}/")
    chart = page.locator('svg[aria-label^="Reward."]')
    assert chart.is_visible() and chart.bounding_box()["width"] > 200
    assert "train/reward_exact_match" in chart.text_content()
    assert page.locator('svg[aria-label^="Loss."]').is_visible()
    assert page.problems == []
