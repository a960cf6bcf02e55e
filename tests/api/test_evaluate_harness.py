"""Harness tasks in an evaluate job through POST /api/v1/jobs: an uploaded multiple-choice dataset is
detected as such and becomes the spec's harness data; the operator's task directories come from the
settings; paths in a request, datasets of the wrong kind or of another team are refused by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data import storage
from jobs.data.datasets import create_dataset
from jobs.lifecycle import specs
from jobs.models import Job
from tests.api.helpers import fields, problem
from tests.api.test_chain_jobs import create, tune

__all__ = ["tune"]

FIXTURE = Path(__file__).resolve().parents[1] / "trainers" / "evaluate" / "harness_fixture"


@pytest.fixture
def multiple_choice(team, member):
    upload = SimpleUploadedFile("sums.jsonl", (FIXTURE / "arithmetic_mc.jsonl").read_bytes())
    return create_dataset(team=team, user=member, name="sums", upload=upload)


def test_an_uploaded_multiple_choice_dataset_runs_as_a_harness_task(
    as_member, tiny_model, tune, multiple_choice, settings, tmp_path
):
    assert multiple_choice.task == "multiple_choice" and multiple_choice.row_count == 12
    settings.HONE_HARNESS_TASK_DIRS = [str(tmp_path)]
    response = create(
        as_member, kind="evaluate", base_model=tiny_model.pk, candidate=tune.pk,
        harness_datasets=[multiple_choice.pk], params={"harness": {"limit": 5}},
    )
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.inputs.get(role="harness").dataset == multiple_choice
    harness = specs.build_spec(job, 1, None)["harness"]
    assert harness["datasets"][0]["path"] == str(storage.resolve(multiple_choice.location))
    assert harness["task_dirs"] == [str(tmp_path)] and harness["limit"] == 5
    assert harness["chat_template"] == "auto"


def test_paths_wrong_data_and_other_teams_datasets_are_refused(
    as_member, tiny_model, tune, dataset, multiple_choice, other_team, outsider
):
    def refused(**extra) -> dict:
        extra = {"kind": "evaluate", "base_model": tiny_model.pk, "candidate": tune.pk, **extra}
        return fields(problem(create(as_member, **extra), 400))

    assert "params.harness.task_dirs" in refused(params={"harness": {"tasks": ["x"], "task_dirs": ["/etc"]}})
    assert "multiple_choice rows" in refused(harness_datasets=[dataset.pk])["harness_datasets[0]"]
    theirs = create_dataset(
        team=other_team, user=outsider, name="theirs",
        upload=SimpleUploadedFile("t.jsonl", (FIXTURE / "arithmetic_mc.jsonl").read_bytes()),
    )
    assert "harness_datasets" in str(refused(harness_datasets=[theirs.pk]))
    assert "name harness tasks" in refused(params={"harness": {"num_fewshot": 1}})["params.harness.tasks"]
    assert not Job.objects.filter(kind="evaluate").exists()


def test_a_judge_model_and_its_labelled_pairs_reach_the_spec(as_member, team, member, tiny_model, tune):
    from trainers.tiny import demo_instruction_rows

    pairs = [{"prompt": r["instruction"], "chosen": r["output"], "rejected": r["output"] + "?"}
             for r in demo_instruction_rows(10)]
    upload = SimpleUploadedFile("pairs.jsonl", "".join(json.dumps(p) + "\n" for p in pairs).encode())
    labels = create_dataset(team=team, user=member, name="pairs", upload=upload)
    response = create(
        as_member, kind="evaluate", base_model=tiny_model.pk, candidate=tune.pk,
        judge_model=tune.pk, judge_labels=labels.pk, params={"judge": {"rubric": "Correct answers win."}},
    )
    assert response.status_code == 201, response.json()
    judge = specs.build_spec(Job.objects.get(pk=response.json()["id"]), 1, None)["judge"]
    assert judge["model"]["model"]["path"] == tune.path and judge["swap_positions"] is True
    assert judge["labelled"]["task"] == "preference" and judge["rubric"] == "Correct answers win."
    no_rubric = fields(problem(create(as_member, kind="evaluate", base_model=tiny_model.pk,
                                      candidate=tune.pk, judge_model=tune.pk), 400))
    assert "required" in no_rubric["params.judge.rubric"]
    no_judge = fields(problem(create(as_member, kind="evaluate", base_model=tiny_model.pk,
                                     candidate=tune.pk, params={"judge": {"rubric": "x"}}), 400))
    assert "required" in no_judge["judge_model"]


def test_a_multiple_choice_dataset_page_shows_its_rows_as_the_harness_reads_them(
    client, member, multiple_choice, tiny_model
):
    client.force_login(member)
    page = client.get(f"/datasets/{multiple_choice.pk}/", {"model": tiny_model.pk})
    assert page.status_code == 200
    assert "What is 1 plus 2?" in page.content.decode()
