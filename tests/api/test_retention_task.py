"""The forgetting report's multiple-choice task: owners choose it (built-in questions or one of the
team's multiple-choice datasets), training specs carry it, and the job page and the API show its
accuracy before and after, warned on a drop of more points than the team's limit."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data.datasets import create_dataset
from jobs.lifecycle import specs
from jobs.models import Job, Team
from tests.api.test_evaluation_report import record
from tests.conftest import jsonl_bytes

QUESTIONS = [{"question": f"Which is number {i}?", "choices": ["one", "two", "three"], "answer": i % 3}
             for i in range(6)]


def _choice_set(team, user, name="quiz"):
    return create_dataset(team=team, user=user, name=name,
                          upload=SimpleUploadedFile(f"{name}.jsonl", jsonl_bytes(QUESTIONS)))


def test_owners_choose_the_retention_task_and_others_cannot(
    client, owner, member, team, other_team, outsider
):
    quiz, theirs = _choice_set(team, owner), _choice_set(other_team, outsider, "theirs")
    client.force_login(member)
    response = client.post("/team/evaluation/", {"retention_warn_percent": "5", "retention_task": "builtin"})
    assert response.status_code == 403
    client.force_login(owner)
    page = client.get("/team/").content.decode()
    assert f'<option value="dataset:{quiz.pk}">Dataset: quiz</option>' in page and "theirs" not in page
    client.post("/team/evaluation/", {"retention_warn_percent": "5", "retention_task": f"dataset:{quiz.pk}"})
    team.refresh_from_db()
    chosen = (team.retention_task, team.retention_dataset_id, team.retention_warn_percent)
    assert chosen == ("dataset", quiz.pk, 5)
    refused = client.post("/team/evaluation/", {"retention_warn_percent": "7",
                                                "retention_task": f"dataset:{theirs.pk}"}, follow=True)
    assert f"dataset:{theirs.pk} is not a multiple-choice dataset of" in refused.content.decode()
    team.refresh_from_db()
    assert (team.retention_dataset_id, team.retention_warn_percent) == (quiz.pk, 5)  # nothing half-saved
    client.post("/team/evaluation/", {"retention_warn_percent": "5", "retention_task": ""})
    team.refresh_from_db()
    assert (team.retention_task, team.retention_dataset_id) == ("", None)


def test_a_training_spec_carries_the_teams_retention_task(
    team, member, owner, tiny_model, dataset, django_capture_on_commit_callbacks
):
    def spec_task():
        with django_capture_on_commit_callbacks(execute=False):
            job = launch.launch_training(team=team, user=member, name="t", base_model=tiny_model,
                                         dataset=dataset, params={"training": {"epochs": 1}})
        return specs.build_spec(job, 1, None)["retention_task"]

    assert spec_task() is None
    Team.objects.filter(pk=team.pk).update(retention_task="builtin")
    team.refresh_from_db()
    assert spec_task() == {"dataset": None}
    quiz = _choice_set(team, owner)
    Team.objects.filter(pk=team.pk).update(retention_task="dataset", retention_dataset=quiz)
    team.refresh_from_db()
    assert spec_task()["dataset"]["sha256"] == quiz.sha256


def test_the_page_and_the_api_warn_on_an_accuracy_drop_past_the_limit(client, as_member, member, team,
                                                                      tiny_model, dataset):
    job = Job.objects.create(team=team, created_by=member, name="sums", base_model=tiny_model,
                             dataset=dataset, status=Job.Status.SUCCEEDED)
    record(job, {"retention/perplexity": [(0, 4.0), (96, 4.1)],
                 "retention/choice_accuracy": [(0, 0.875), (96, 0.5)]})
    choice = as_member.get(f"/api/v1/jobs/{job.pk}/evaluation").json()["retention"]["choice"]
    assert choice["warned"] is True and abs(choice["drop_points"] - 37.5) < 1e-9
    client.force_login(member)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "worse at its retention questions" in page and "fell 37.5 points" in page
    assert "retention/choice_accuracy" in page and "worse at general text" not in page  # +2.5 % only
    Team.objects.filter(pk=team.pk).update(retention_warn_percent=40)
    assert as_member.get(f"/api/v1/jobs/{job.pk}/evaluation").json()["retention"]["choice"]["warned"] is False


def test_the_model_card_gets_the_forgetting_report_then_the_gate(
    team, member, tiny_model, dataset, _storage, django_capture_on_commit_callbacks
):
    from jobs.models import Dataset
    from tests.api.test_gates import GATE, _finish, _launch

    Dataset.objects.filter(pk=dataset.pk).update(golden=True)
    dataset.refresh_from_db()
    job = _launch(team, member, tiny_model, dataset, dataset, GATE, django_capture_on_commit_callbacks)
    points = {"eval/loss": [(0, 2.0), (10, 1.2)], "retention/perplexity": [(0, 4.0), (10, 4.02)],
              "retention/choice_accuracy": [(0, 0.75), (10, 0.5)]}
    job = _finish(job, _storage, points)
    card = (_storage / "runs" / f"job-{job.pk}" / "output" / "adapter" / "README.md").read_text()
    assert card.index("## Forgetting report") < card.index("## Promotion gate")
    assert "| General-text perplexity (" in card and "| 4.000 | 4.020 | +0.5 % |" in card
    assert "| Retention questions, accuracy | 0.750 | 0.500 | -25.0 points |" in card
    assert "Retention is past the team's limit of 10" in card


def test_an_evaluate_job_adds_its_harness_table_and_judge_to_a_hone_made_candidates_card(
    team, member, tiny_model, dataset, _storage
):
    from jobs.executors.base import Observation
    from jobs.lifecycle import services
    from jobs.models import Attempt, JobInput, MetricPoint, ModelAsset

    trained = Job.objects.create(team=team, name="run", base_model=tiny_model, dataset=dataset,
                                 status=Job.Status.SUCCEEDED)
    folder = _storage / "runs" / f"job-{trained.pk}" / "output" / "adapter"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# run\n", encoding="utf-8")
    candidate = ModelAsset.objects.create(team=team, name="run", source="job", path=str(folder),
                                          task="causal-lm", produced_by=trained)
    evaluation = Job.objects.create(team=team, created_by=member, name="against base", kind=Job.Kind.EVALUATE,
                                    status=Job.Status.RUNNING)
    JobInput.objects.create(job=evaluation, role="base", model=tiny_model)
    JobInput.objects.create(job=evaluation, role="candidate", model=candidate, position=1)
    attempt = Attempt.objects.create(job=evaluation, number=1, executor="local", status="running")
    points = {"eval/hone_mc_0.acc": [(0, 0.25), (1, 0.5)], "eval/judge_win_rate": [(0, 0.25), (1, 0.75)]}
    MetricPoint.objects.bulk_create(MetricPoint(job=evaluation, attempt=attempt, name=n, step=s, value=v)
                                    for n, values in points.items() for s, v in values)
    services.finish_attempt(attempt, Observation("exited", exit_code=0))
    card = (folder / "README.md").read_text()
    assert f"## Evaluation (job #{evaluation.pk}: against base)" in card
    assert "| hone_mc_0 | acc | 0.2500 | 0.5000 | +0.2500 |" in card
    assert "Judge win rate against the base: 75% of the prompts." in card
