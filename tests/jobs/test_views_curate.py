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


@pytest.fixture
def sums(team, member):
    rows = [{"text": f"{i} plus 2 is {i + 2}, and that is the sum of the two."} for i in range(6)]
    return create_dataset(
        team=team, user=member, name="sums", upload=SimpleUploadedFile("s.jsonl", jsonl_bytes(rows))
    )


def test_an_influence_selection_takes_its_target_set_and_the_model(
    client, member, repetitive, sums, tiny_model, django_capture_on_commit_callbacks
):
    client.force_login(member)
    chosen = form(repetitive, keep_percent=30, diversity="less", target_set=sums.pk, tokenizer=tiny_model.pk)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/jobs/new/curate/", chosen).status_code == 302
    job = Job.objects.get()
    assert job.params["influence"]["method"] == "less" and "diversity" not in job.params
    assert {(i.role, i.dataset_id) for i in job.inputs.all() if i.dataset_id} == {
        ("dataset", repetitive.pk),
        ("target", sums.pk),
    }


def test_a_target_set_of_another_kind_is_refused_next_to_it(client, member, repetitive, tiny_model, team):
    rows = [{"instruction": "What is 2 plus 2?", "output": "4."}]
    other = create_dataset(
        team=team, user=member, name="qa", upload=SimpleUploadedFile("q.jsonl", jsonl_bytes(rows))
    )
    client.force_login(member)
    chosen = form(repetitive, diversity="color_filter", target_set=other.pk, tokenizer=tiny_model.pk)
    page = client.post("/jobs/new/curate/", chosen).content.decode()
    assert "qa holds instruction data but the datasets hold text; give a target set of the same kind" in page
    assert 'id="id_target_set"' in page and not Job.objects.exists()


def test_the_fit_settings_and_a_tfidf_selection_become_the_jobs_params(
    client, member, repetitive, tiny_model, django_capture_on_commit_callbacks
):
    client.force_login(member)
    chosen = form(
        repetitive,
        fit="on",
        tokenizer=tiny_model.pk,
        fit_rule="band",
        fit_drop_easiest=5,
        fit_drop_hardest=15,
        fit_max_tokens=128,
        diversity="k_center_tfidf",
    )
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/curate/", chosen)
    params = Job.objects.get().params
    assert params["fit"] == {
        "best_response_per_prompt": False,
        "drop_easiest_percent": 5.0,
        "drop_hardest_percent": 15.0,
        "max_tokens": 128,
    }
    assert params["diversity"]["features"] == "tfidf"


def test_a_fit_share_out_of_bounds_is_refused_at_its_own_field(client, member, repetitive, tiny_model):
    client.force_login(member)
    chosen = form(repetitive, fit="on", tokenizer=tiny_model.pk, fit_drop_hardest=70)
    response = client.post("/jobs/new/curate/", chosen)
    assert response.context["form"].errors["fit_drop_hardest"] == ["Input should be less than 50"]
    assert not Job.objects.exists()


def test_a_finished_curation_with_fit_shows_the_loss_histogram_with_its_band(
    client, member, repetitive, tiny_model, django_capture_on_commit_callbacks
):
    client.force_login(member)
    chosen = form(
        repetitive, dedup="", fit="on", tokenizer=tiny_model.pk, fit_drop_easiest=10, fit_drop_hardest=10
    )
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/curate/", chosen)
    job = Job.objects.get()
    run_curate(parse_spec(specs.build_spec(job, 1, None)), EventEmitter(io.StringIO()))
    for name, kind, path in (("scores", "report", "scores.parquet"), ("summary", "report", "summary.json")):
        location = specs.output_dir(job) / path
        Artifact.objects.create(
            job=job, name=name, kind=kind, location=storage.relative(location), bytes=1, sha256="0" * 64
        )
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Loss of each answer under the model (the fit step)" in page
    chart = page.split("Loss of each answer under the model")[1].split("</svg>")[0]
    assert "loss per token" in chart and chart.count("stroke-dasharray") == 2  # the kept band's two ends
