"""The job page of a job that scores answers with rewards: the mean reward and each chosen reward's
mean drawn together on one chart, like the loss; their spread, KL and the rest keep their own."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from jobs.models import Attempt, Job, MetricPoint
from trainers.spec import TrainingParams

REWARDS = [{"name": "math", "weight": 1.0, "params": {}}, {"name": "format", "weight": 0.2, "params": {}}]


def _job(team, member, tiny_model, dataset, objective: str, params: dict) -> Job:
    return Job.objects.create(
        team=team, created_by=member, name="rl", base_model=tiny_model, dataset=dataset, objective=objective,
        status=Job.Status.RUNNING, step=20, total_steps=40,
        params={"training": TrainingParams().model_dump(), **params},
    )  # fmt: skip


def _metrics(job: Job, names: dict[str, range]) -> None:
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="running")
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=name, step=s, value=0.1 + s / 100)
        for name, steps in names.items()
        for s in steps
    )


def _charts(body: str) -> dict[str, ET.Element]:
    svgs = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", body, flags=re.S)]
    return {svg.get("aria-label").split(".")[0]: svg for svg in svgs}


@pytest.fixture
def grpo(team, member, tiny_model, dataset) -> Job:
    params = {"grpo": {"num_generations": 4, "rewards": REWARDS}}
    job = _job(team, member, tiny_model, dataset, "grpo", params)
    training = range(1, 21)
    _metrics(job, {"train/reward": training, "train/reward_math": training, "train/reward_format": training,
                   "train/reward_std": training, "train/kl": training, "eval/reward": range(0, 21, 10),
                   "eval/reward_math": range(0, 21, 10), "eval/accuracy": range(0, 21, 10)})  # fmt: skip
    return job


def test_a_grpo_job_page_draws_its_rewards_together_like_the_loss(client, member, grpo):
    client.force_login(member)
    charts = _charts(client.get(f"/jobs/{grpo.pk}/").content.decode())
    reward = charts["Reward"]
    label = reward.get("aria-label")
    for name, last in (("train/reward", "0.3 at step 20"), ("eval/reward", "0.3 at step 20"),
                       ("train/reward_math", "0.3 at step 20"), ("train/reward_format", "0.3 at step 20"),
                       ("eval/reward_math", "0.3 at step 20")):  # fmt: skip
        assert f"{name}: {last}" in label, label
    legend = "".join(reward.itertext())
    assert "train/reward_format" in legend and "eval/reward" in legend
    # Spread, KL and accuracy keep their own charts; no reward is drawn twice.
    assert {"Reward std (train)", "Kl (train)", "Accuracy (held-out)"} <= set(charts)
    assert not any(title.startswith("Reward math") or title.startswith("Reward (") for title in charts)


def test_the_live_fragment_has_the_same_reward_chart(client, member, grpo):
    client.force_login(member)
    body = client.get(f"/jobs/{grpo.pk}/live/", HTTP_HX_REQUEST="true").content.decode()
    assert "Reward" in _charts(body)


def test_a_preference_jobs_reward_metrics_are_not_taken_for_chosen_rewards(
    client, member, team, tiny_model, dataset
):
    job = _job(team, member, tiny_model, dataset, "dpo", {"dpo": {"beta": 0.1}})
    _metrics(job, {"train/reward_chosen": range(1, 5), "train/reward_margin": range(1, 5)})
    client.force_login(member)
    charts = _charts(client.get(f"/jobs/{job.pk}/").content.decode())
    assert "Reward" not in charts
    assert {"Reward chosen (train)", "Reward margin (train)"} <= set(charts)
