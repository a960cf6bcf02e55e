"""The "Curate…" page: a preview of what would be dropped and why (nothing created), a queued job,
refusals next to their field; and the result section of a finished curate job."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.assets import lineage
from jobs.data import storage
from jobs.data.datasets import create_dataset
from jobs.lifecycle import specs
from jobs.models import Artifact, Dataset, Job
from tests.conftest import jsonl_bytes
from trainers.curate.run import run_curate
from trainers.events import EventEmitter
from trainers.spec import parse_spec


@pytest.fixture
def repetitive(team, member):
    rows = [
        {"text": f"A sentence about subject {i % 10} that goes on for a while, number {i % 10}."}
        for i in range(30)
    ]
    rows.append({"text": "spam spam spam spam spam spam spam spam spam spam spam spam spam"})
    upload = SimpleUploadedFile("rep.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="rep", upload=upload)


def form(dataset, **changes) -> dict:
    return {
        "datasets": [dataset.pk],
        "keep_percent": 100,
        "dedup": "on",
        "near_threshold": 0.8,
        "quality": "on",
        "max_repetition": 0.5,
        **changes,
    }


def test_the_dataset_page_offers_curate(client, member, repetitive):
    client.force_login(member)
    page = client.get(f"/datasets/{repetitive.pk}/").content.decode()
    assert f"/jobs/new/curate/?dataset={repetitive.pk}" in page
    body = client.get(f"/jobs/new/curate/?dataset={repetitive.pk}").content.decode()
    assert f'<option value="{repetitive.pk}" selected>' in body


def test_the_preview_shows_what_would_be_dropped_and_why_without_creating_a_job(client, member, repetitive):
    client.force_login(member)
    page = client.post("/jobs/new/curate/", form(repetitive, preview="1")).content.decode()
    assert "Preview: the first 31 of 31 rows" in page
    assert "Of these, 10 would be kept and 21 dropped" in page
    assert "Exact duplicate of an earlier row" in page and "Repeats itself" in page
    assert "The whole job: about 20 s on the local profile" in page  # 31 rows: start-up dominates
    assert not Job.objects.exists()


def test_it_queues_a_curate_job(client, member, repetitive, django_capture_on_commit_callbacks):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/curate/", form(repetitive, keep_percent=30, labels="", name="tidy"))
    job = Job.objects.get()
    assert response.status_code == 302 and (job.kind, job.name, job.dataset) == ("curate", "tidy", repetitive)
    assert job.params["budget"] == {"keep_percent": 30.0} and job.params["dedup"]["threshold"] == 0.8


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"keep_percent": ""}, "give exactly one of keep_rows or keep_percent"),
        ({"labels": "drop"}, "label problems are found in classification data"),
        ({"languages": "en, english"}, "languages: english not a language code the detector knows"),
        ({"fit": "on"}, "scores responses by the loss of the model they are for: give that model"),
    ],
)
def test_bad_choices_are_refused_next_to_their_field(client, member, repetitive, changes, words):
    client.force_login(member)
    response = client.post("/jobs/new/curate/", form(repetitive, **changes))
    assert response.status_code == 200 and words in response.content.decode()
    assert not Job.objects.exists()


def test_languages_and_a_cluster_balanced_selection_become_the_jobs_params(
    client, member, repetitive, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/curate/", form(repetitive, languages="en, de", diversity="cluster_balanced"))
    params = Job.objects.get().params
    assert params["quality"]["languages"] == ["en", "de"]
    assert params["diversity"]["method"] == "cluster_balanced"


def test_another_teams_dataset_cannot_be_picked(client, outsider, repetitive):
    client.force_login(outsider)
    response = client.post("/jobs/new/curate/", form(repetitive))
    assert "Select a valid choice" in response.content.decode()
    assert not Job.objects.exists()


def test_a_finished_curation_shows_counts_examples_histograms_and_its_dataset(
    client, member, repetitive, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/curate/", form(repetitive, max_tokens=40))
    job = Job.objects.get()
    run_curate(parse_spec(specs.build_spec(job, 1, None)), EventEmitter(io.StringIO()))
    for name, kind, path in (
        ("curated", "dataset", "curated.jsonl"),
        ("scores", "report", "scores.parquet"),
        ("summary", "report", "summary.json"),
    ):
        location = specs.output_dir(job) / path
        Artifact.objects.create(
            job=job, name=name, kind=kind, location=storage.relative(location), bytes=1, sha256="0" * 64
        )
    lineage.register_outputs(job)
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    made = Dataset.objects.get(produced_by=job)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "10 of 31 rows kept, 21 dropped" in page
    assert "Length of every row" in page and 'class="chart histogram"' in page
    assert f'href="/datasets/{made.pk}/"' in page
    assert f"curate job #{job.pk}" in client.get(f"/datasets/{made.pk}/").content.decode()


def test_viewers_can_neither_preview_nor_start_a_curation(client, viewer, repetitive):
    client.force_login(viewer)
    assert client.post("/jobs/new/curate/", form(repetitive, preview="1")).status_code == 403
    assert client.post("/jobs/new/curate/", form(repetitive)).status_code == 403
    assert not Job.objects.exists()
