"""The promotion gate on the training and merge forms: metric, minimum gain, largest retention drop
and a golden-set picker offering the team's golden datasets only; errors next to the fields."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data.datasets import create_dataset
from jobs.models import Dataset, Job
from tests.conftest import jsonl_bytes
from tests.jobs.test_views_job_form import form_data
from tests.jobs.test_views_merge import ties_form
from tests.jobs.test_views_merge import tune as tune  # noqa: F401 (the fixture)


@pytest.fixture
def golden(dataset) -> Dataset:
    Dataset.objects.filter(pk=dataset.pk).update(golden=True)
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def plain(team, member, demo_rows) -> Dataset:
    return create_dataset(team=team, user=member, name="not golden",
                          upload=SimpleUploadedFile("p.jsonl", jsonl_bytes(demo_rows)))


@pytest.fixture
def theirs(other_team, outsider, demo_rows) -> Dataset:
    found = create_dataset(team=other_team, user=outsider, name="their golden",
                           upload=SimpleUploadedFile("t.jsonl", jsonl_bytes(demo_rows)))
    Dataset.objects.filter(pk=found.pk).update(golden=True)
    return found


def test_the_golden_picker_offers_the_teams_golden_sets_only(
    client, member, tiny_model, golden, plain, theirs
):
    client.force_login(member)
    for page in ("/jobs/new/", "/jobs/new/merge/?method=ties"):
        body = client.get(page).content.decode()
        picker = body[body.index('name="gate_golden"'):]
        picker = picker[: picker.index("</select>")]
        assert f'value="{golden.pk}"' in picker, page
        assert f'value="{plain.pk}"' not in picker and f'value="{theirs.pk}"' not in picker, page
        assert 'name="gate_metric"' in body and 'name="gate_min_gain"' in body
        assert 'name="gate_max_retention_drop"' in body and "<summary>Promotion gate</summary>" in body


def test_a_training_job_with_a_gate_is_launched_on_its_golden_set(
    client, member, tiny_model, dataset, golden, django_capture_on_commit_callbacks
):
    client.force_login(member)
    gate = {"gate_metric": "eval/loss", "gate_min_gain": "0.5", "gate_max_retention_drop": "1",
            "gate_golden": golden.pk}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk, **gate))
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get()
    assert job.params["gate"] == {"metric": "eval/loss", "min_gain": 0.5, "max_retention_drop": 1.0}
    assert job.inputs.get(role="validation").dataset_id == golden.pk
    again = client.get(f"/jobs/new/?from={job.pk}").content.decode()  # clone and edit keeps it
    assert '<option value="eval/loss" selected>' in again
    assert f'<option value="{golden.pk}" selected>' in again


@pytest.mark.parametrize(
    ("gate", "field", "words"),
    [
        ({"gate_metric": "eval/loss"}, "gate_metric", "metric and min_gain go together"),
        ({"gate_metric": "eval/loss", "gate_min_gain": "1"}, "gate_metric", "the job has no validation set"),
        ({"gate_min_gain": "500"}, "gate_min_gain", "less than or equal to 100"),
    ],
)
def test_a_bad_training_gate_is_shown_next_to_its_field(
    client, member, tiny_model, dataset, gate, field, words
):
    client.force_login(member)
    body = client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk, **gate)).content.decode()
    assert not Job.objects.exists()
    start = body.index(f'name="{field}"')
    near = body[start: body.index("</div>", body.index("errorlist", start))]
    assert words in near, body[start: start + 2000]
    assert '<details class="card" id="gate-fields" open>' in body


def test_a_merge_with_a_gate_is_launched_with_its_golden_set(
    client, member, tiny_model, tune, golden, django_capture_on_commit_callbacks  # noqa: F811
):
    client.force_login(member)
    gate = {"gate_metric": "eval/perplexity", "gate_min_gain": "0.2", "gate_golden": golden.pk}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/merge/", ties_form(tiny_model, tune, **gate))
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(kind="merge")
    assert job.params["gate"] == {"metric": "eval/perplexity", "min_gain": 0.2}
    assert job.inputs.get(role="golden").dataset_id == golden.pk


def test_a_merge_gate_the_merged_model_cannot_be_scored_by_is_shown_next_to_the_metric(
    client, member, tiny_model, tune, golden  # noqa: F811
):
    client.force_login(member)
    gate = {"gate_metric": "eval/accuracy", "gate_min_gain": "2", "gate_golden": golden.pk}
    body = client.post("/jobs/new/merge/", ties_form(tiny_model, tune, **gate)).content.decode()
    assert not Job.objects.filter(kind="merge").exists()
    start = body.index('name="gate_metric"')
    assert "scored by eval/loss or eval/perplexity" in body[start: start + 3000]
