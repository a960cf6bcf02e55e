"""Evaluation tables: a training job's forgetting report (warned past the team's threshold, which its
owners set), and an evaluate job's harness tasks, on the job page and in GET /api/v1/jobs/{id}/evaluation."""

from __future__ import annotations

import json

import pytest

from jobs.data import storage
from jobs.models import Artifact, Attempt, Job, JobInput, MetricPoint, Team


def record(job: Job, points: dict[str, list[tuple[int, float]]]) -> None:
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="succeeded")
    MetricPoint.objects.bulk_create(MetricPoint(job=job, attempt=attempt, name=name, step=step, value=value)
                                    for name, values in points.items() for step, value in values)


@pytest.fixture
def trained(team, member, tiny_model, dataset) -> Job:
    job = Job.objects.create(team=team, created_by=member, name="sums", base_model=tiny_model,
                             dataset=dataset, status=Job.Status.SUCCEEDED)
    # What the trainer sent for a hard full fine-tune on sums (tests/trainers/test_forgetting.py).
    record(job, {"retention/perplexity": [(0, 4.276), (96, 5.2)], "eval/loss": [(0, 2.5), (96, 0.4)]})
    return job


def test_the_page_warns_when_retention_dropped_past_the_team_threshold(client, member, trained):
    client.force_login(member)
    page = client.get(f"/jobs/{trained.pk}/").content.decode()
    assert "Forgetting report" in page and "rose 21.6 %" in page and "limit of 10.0 %" in page
    assert "eval/loss" in page  # the task metric beside it
    Team.objects.filter(pk=trained.team_id).update(retention_warn_percent=25)
    page = client.get(f"/jobs/{trained.pk}/").content.decode()
    assert "Forgetting report" in page and "worse at general text" not in page


def test_owners_set_the_threshold_and_others_cannot(client, owner, member, team):
    client.force_login(member)
    assert client.post("/team/evaluation/", {"retention_warn_percent": "3"}).status_code == 403
    client.force_login(owner)
    client.post("/team/evaluation/", {"retention_warn_percent": "2.5"})
    team.refresh_from_db()
    assert team.retention_warn_percent == 2.5
    response = client.post("/team/evaluation/", {"retention_warn_percent": "-1"}, follow=True)
    assert "from 0 to 1000, not -1" in response.content.decode()


def test_the_api_returns_the_forgetting_report_and_harness_tables(
    as_member, trained, team, member, tiny_model
):
    body = as_member.get(f"/api/v1/jobs/{trained.pk}/evaluation").json()
    assert body["retention"]["warned"] is True and body["retention"]["threshold_percent"] == 10.0
    assert body["retention"]["task"] == {"name": "eval/loss", "before": 2.5, "after": 0.4, "change": -2.1}
    assert body["harness"] == []
    evaluation = Job.objects.create(team=team, created_by=member, name="e", kind=Job.Kind.EVALUATE,
                                    status=Job.Status.SUCCEEDED)
    JobInput.objects.create(job=evaluation, role="base", model=tiny_model)
    record(evaluation, {"eval/perplexity": [(0, 9.0), (1, 8.0)], "eval/hone_mc_0.acc": [(0, 0.25), (1, 0.5)]})
    report = storage.root() / "runs" / "e" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"judge": {"candidate_win_rate": 1.0, "labelled": {"agreement": 1.0}}}))
    Artifact.objects.create(job=evaluation, name="report", kind="report", location="runs/e/report.json",
                            bytes=1, sha256="0" * 64)
    body = as_member.get(f"/api/v1/jobs/{evaluation.pk}/evaluation").json()
    assert body["judge"]["labelled"]["agreement"] == 1.0
    assert body["retention"] is None
    assert body["harness"] == [
        {"task": "hone_mc_0", "metric": "acc", "base": 0.25, "candidate": 0.5, "change": 0.25}
    ]
