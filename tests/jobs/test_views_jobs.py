"""Job pages: the list, the job page with its live fragment, cancel, artifact downloads."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.utils import timezone

from jobs import launch
from jobs.data import storage
from jobs.models import Artifact, Attempt, Event, Job, MetricPoint
from trainers.spec import LoraParams, TrainingParams

HTMX = {"HTTP_HX_REQUEST": "true"}
POLL = 'hx-trigger="every 2s"'


@pytest.fixture
def job(team, member, tiny_model, dataset) -> Job:
    return Job.objects.create(
        team=team,
        created_by=member,
        name="support bot",
        base_model=tiny_model,
        dataset=dataset,
        status=Job.Status.RUNNING,
        step=30,
        total_steps=100,
        eta_seconds=125,
        params={"lora": LoraParams().model_dump(), "training": TrainingParams().model_dump()},
    )


def attempt_for(job: Job, number: int = 1, **fields) -> Attempt:
    return Attempt.objects.create(
        job=job, number=number, executor="local", **({"status": "running"} | fields)
    )


def add_events(attempt: Attempt, kind: str, payloads: list[dict], first_seq: int = 1) -> None:
    now = timezone.now()
    Event.objects.bulk_create(
        Event(attempt=attempt, seq=first_seq + i, kind=kind, time=now, payload=p)
        for i, p in enumerate(payloads)
    )


# --- the list --------------------------------------------------------------------


def test_job_list_shows_status_progress_eta_and_inputs(client, member, job):
    client.force_login(member)
    body = client.get("/jobs/").content.decode()
    assert f'href="/jobs/{job.pk}/"' in body
    assert '<span class="badge badge-running">running</span>' in body
    assert '<progress value="0.3" max="1"' in body
    assert "30%" in body
    assert "2 min 5 s" in body
    assert job.base_model.name in body and job.dataset.name in body


def test_job_list_polls_only_while_a_job_is_active(client, member, job):
    client.force_login(member)
    assert POLL in client.get("/").content.decode()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    assert POLL not in client.get("/").content.decode()


def test_htmx_poll_gets_just_the_table(client, member, job):
    client.force_login(member)
    response = client.get("/jobs/?status=running", **HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="job-table"')
    assert "<html" not in body
    assert 'hx-get="/jobs/?status=running"' in body
    assert "HX-Request" in response["Vary"]


def test_job_list_filters_by_status(client, member, job):
    Job.objects.create(
        team=job.team, name="broken one", base_model=job.base_model, dataset=job.dataset, status="failed"
    )
    client.force_login(member)
    body = client.get("/jobs/?status=failed").content.decode()
    assert "broken one" in body and "support bot" not in body
    body = client.get("/jobs/?status=active").content.decode()
    assert "support bot" in body and "broken one" not in body


def test_job_list_hides_other_teams_jobs(client, outsider, job):
    client.force_login(outsider)
    body = client.get("/").content.decode()
    assert "support bot" not in body
    assert "No jobs yet" in body


# --- the job page and its live fragment ---------------------------------------------


def test_job_page_shows_progress_eta_and_a_loss_chart(client, member, job):
    attempt = attempt_for(job)
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(job=job, attempt=attempt, name="train/loss", step=s, value=3 - s / 50)
            for s in range(1, 31)
        ]
        + [
            MetricPoint(job=job, attempt=attempt, name="eval/loss", step=s, value=2.9 - s / 60)
            for s in (10, 20, 30)
        ]
        + [
            MetricPoint(job=job, attempt=attempt, name="train/learning_rate", step=s, value=2e-4)
            for s in (1, 30)
        ]
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<progress value="30" max="100"' in body
    assert "step 30 of 100" in body
    assert "about 2 min 5 s left" in body
    assert body.count("<svg") == 2
    assert "train/loss" in body and "eval/loss" in body
    assert 'aria-label="Learning rate.' in body
    assert "Cancel job" in body


def test_job_page_without_metrics_says_the_chart_is_coming(client, member, job):
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "<svg" not in body
    assert "The loss chart appears once training reports its first steps." in body


def test_job_page_shows_the_last_50_log_lines_newest_last(client, member, job):
    first = attempt_for(job, 1, status="preempted", exit_code=143)
    second = attempt_for(job, 2)
    add_events(first, "log", [{"level": "info", "message": f"msg-{i:03}"} for i in range(30)])
    add_events(second, "log", [{"level": "warning", "message": f"msg-{i:03}"} for i in range(30, 60)])
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/live/").content.decode()
    assert "msg-009" not in body
    shown = re.findall(r"msg-\d{3}", body)
    assert shown == [f"msg-{i:03}" for i in range(10, 60)]


def test_job_page_shows_the_latest_samples(client, member, job):
    attempt = attempt_for(job)
    add_events(
        attempt,
        "sample",
        [
            {"step": 10, "prompt": "Say hi", "output": "early answer"},
            {"step": 20, "prompt": "Say hi", "output": "later answer"},
            {"step": 20, "prompt": "Say bye", "output": "goodbye"},
        ],
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/live/").content.decode()
    assert "later answer" in body and "goodbye" in body
    assert "early answer" not in body


def test_job_page_shows_the_attempt_timeline(client, member, job):
    attempt_for(
        job, 1, status="preempted", exit_code=143, reason="preempted; will resume from the last checkpoint"
    )
    attempt_for(job, 2, resumed_from=str(storage.root() / "runs/x/output/checkpoints/checkpoint-40"))
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<span class="badge badge-preempted">preempted</span>' in body
    assert "exit code 143" in body
    assert "preempted; will resume from the last checkpoint" in body
    assert "Resumed from step 40, running." in body  # attempt 2's one-line story
    assert '<span class="tag" title="' in body and ">resumed from step 40</span>" in body


def test_failed_job_shows_its_error_prominently(client, member, job):
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED, error="out of memory: lower the batch size"
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert re.search(r'role="alert">\s*<h2>This job failed</h2>\s*<p class="pre">out of memory', body)
    assert "Cancel job" not in body


def test_live_fragment_polls_while_running_and_stops_when_done(client, member, job):
    client.force_login(member)
    running = client.get(f"/jobs/{job.pk}/live/", **HTMX).content.decode()
    assert POLL in running
    assert f'hx-get="/jobs/{job.pk}/live/"' in running
    assert "<html" not in running
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    done = client.get(f"/jobs/{job.pk}/live/", **HTMX).content.decode()
    assert POLL not in done
    assert "100%" in done
    # The final render also refreshes the outputs and drops the cancel button, out of band.
    assert '<section id="job-artifacts"' in done and 'hx-swap-oob="true"' in done
    assert "Cancel job" not in done


def test_live_fragment_keeps_polling_until_a_cancelled_jobs_process_has_stopped(client, member, job):
    from jobs.models import Attempt

    attempt = Attempt.objects.create(job=job, number=1, executor="local", status=Attempt.Status.RUNNING)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED)
    client.force_login(member)
    assert POLL in client.get(f"/jobs/{job.pk}/live/", **HTMX).content.decode()
    Attempt.objects.filter(pk=attempt.pk).update(status=Attempt.Status.CANCELLED)
    assert POLL not in client.get(f"/jobs/{job.pk}/live/", **HTMX).content.decode()


def test_viewer_sees_no_cancel_button(client, viewer, job):
    client.force_login(viewer)
    assert "Cancel job" not in client.get(f"/jobs/{job.pk}/").content.decode()


def test_outsider_gets_404_for_a_job(client, outsider, job):
    client.force_login(outsider)
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/jobs/{job.pk}/live/").status_code == 404


# --- cancel ---------------------------------------------------------------------


def test_cancel_moves_a_running_job_to_cancelled(client, member, job, django_capture_on_commit_callbacks):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/jobs/{job.pk}/", 302)]
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert len(callbacks) == 1  # the announcement, which enqueues stopping the process, waits for the commit
    assert "is cancelled" in response.content.decode()


def test_cancel_of_a_finished_job_changes_nothing(client, member, job):
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    client.force_login(member)
    response = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert "nothing to cancel" in response.content.decode()


def test_viewer_cannot_cancel(client, viewer, job):
    client.force_login(viewer)
    assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING


def test_outsider_cannot_cancel(client, outsider, job):
    client.force_login(outsider)
    assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING


def test_cancel_needs_a_post(client, member, job):
    client.force_login(member)
    assert client.get(f"/jobs/{job.pk}/cancel/").status_code == 405


# --- downloads ------------------------------------------------------------------


@pytest.fixture
def adapter(job) -> Artifact:
    folder = storage.root() / "runs" / f"job-{job.pk}" / "output" / "adapter"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 100)
    (folder / "tokenizer" / "tokenizer.json").write_text("{}")
    return Artifact.objects.create(
        job=job,
        name="adapter",
        kind="adapter",
        location=storage.relative(folder),
        bytes=25_615,
        sha256="0" * 64,
    )


def test_job_page_lists_artifacts_with_size_and_download(client, member, job, adapter):
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'href="/jobs/{job.pk}/artifacts/{adapter.pk}/download/"' in body
    assert "25.0\xa0KB" in body


def test_directory_artifact_downloads_as_a_zip(client, member, job, adapter):
    client.force_login(member)
    response = client.get(f"/jobs/{job.pk}/artifacts/{adapter.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="support-bot-adapter.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer/tokenizer.json",
    ]
    assert archive.read("adapter_model.safetensors") == bytes(range(256)) * 100


def test_zip_leaves_out_links_to_files_outside_the_artifact(client, member, job, adapter, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for download")
    (storage.resolve(adapter.location) / "leak.txt").symlink_to(secret)
    client.force_login(member)
    response = client.get(f"/jobs/{job.pk}/artifacts/{adapter.pk}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert "leak.txt" not in archive.namelist()


def test_file_artifact_downloads_as_it_is(client, member, job):
    path = storage.root() / "runs" / "model.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF" + b"\0" * 10)
    artifact = Artifact.objects.create(
        job=job, name="model", kind="model", location="runs/model.gguf", bytes=14, sha256="0" * 64
    )
    client.force_login(member)
    response = client.get(f"/jobs/{job.pk}/artifacts/{artifact.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="model.gguf"'
    assert b"".join(response.streaming_content) == b"GGUF" + b"\0" * 10


def test_outsider_gets_404_for_an_artifact(client, outsider, job, adapter):
    client.force_login(outsider)
    assert client.get(f"/jobs/{job.pk}/artifacts/{adapter.pk}/download/").status_code == 404


def test_artifact_must_belong_to_the_job_in_the_url(client, member, job, adapter):
    other = Job.objects.create(team=job.team, name="other", base_model=job.base_model, dataset=job.dataset)
    client.force_login(member)
    assert client.get(f"/jobs/{other.pk}/artifacts/{adapter.pk}/download/").status_code == 404


@pytest.mark.parametrize("location", ["../../etc", "runs/missing"])
def test_artifact_outside_storage_or_gone_is_404(client, member, job, location):
    artifact = Artifact.objects.create(
        job=job, name="odd", kind="model", location=location, bytes=1, sha256="0" * 64
    )
    client.force_login(member)
    assert client.get(f"/jobs/{job.pk}/artifacts/{artifact.pk}/download/").status_code == 404


# --- search and filters -----------------------------------------------------------


def test_job_list_searches_by_name_and_number(client, member, job):
    other = Job.objects.create(
        team=job.team, name="translator", base_model=job.base_model, dataset=job.dataset
    )
    client.force_login(member)
    body = client.get("/jobs/?q=SUPPORT").content.decode()
    assert "support bot" in body and "translator" not in body
    body = client.get(f"/jobs/?q=%23{other.pk}").content.decode()
    assert "translator" in body and "support bot" not in body
    body = client.get("/jobs/?q=nothing-like-it").content.decode()
    assert "No jobs match “nothing-like-it”" in body


def test_job_list_filters_by_kind_and_keeps_filters_when_polling(client, member, job, tiny_model):
    Job.objects.create(
        team=job.team, name="squeeze", kind="quantize", base_model=tiny_model, status="running"
    )
    client.force_login(member)
    body = client.get("/jobs/?kind=quantize&q=sq").content.decode()
    assert "squeeze" in body and "support bot" not in body
    assert 'hx-get="/jobs/?kind=quantize&amp;q=sq"' in body
    assert '<option value="quantize" selected>' in body


def test_job_list_pages_keep_the_filters(client, member, job):
    Job.objects.bulk_create(
        Job(team=job.team, name=f"bulk {i}", base_model=job.base_model, status="failed") for i in range(60)
    )
    client.force_login(member)
    body = client.get("/jobs/?status=failed&q=bulk").content.decode()
    assert 'href="?status=failed&amp;q=bulk&amp;page=2"' in body


def test_job_list_rows_have_checkboxes_that_survive_polling(client, member, job):
    client.force_login(member)
    body = client.get("/jobs/").content.decode()
    assert '<form method="get" action="/jobs/compare/" id="compare-form">' in body
    assert f'<input type="checkbox" name="ids" value="{job.pk}" id="pick-{job.pk}" hx-preserve="true"' in body


# --- actions ----------------------------------------------------------------------


def test_retry_runs_a_failed_job_again_as_a_new_job(client, member, job, django_capture_on_commit_callbacks):
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error="boom")
    client.force_login(member)
    assert "Retry</button>" in client.get(f"/jobs/{job.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/jobs/{job.pk}/retry/")
    new = Job.objects.exclude(pk=job.pk).get()
    assert response["Location"] == f"/jobs/{new.pk}/"
    assert (new.params, new.base_model, new.dataset, new.status) == (
        job.params,
        job.base_model,
        job.dataset,
        "queued",
    )
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error == "boom"  # the original keeps its history


def test_retry_keeps_the_jobs_compute_profile(client, member, job, django_capture_on_commit_callbacks):
    from jobs.models import ComputeProfile

    gpu = ComputeProfile.objects.create(name="a100", gpu_type="nvidia-a100-80gb", gpu_count=1)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, profile=gpu)
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/jobs/{job.pk}/retry/")
    assert Job.objects.exclude(pk=job.pk).get().profile == gpu


def test_retry_of_a_running_job_is_refused(client, member, job):
    client.force_login(member)
    assert "Retry</button>" not in client.get(f"/jobs/{job.pk}/").content.decode()
    response = client.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert "was not retried: only failed or cancelled jobs can be retried" in response.content.decode()
    assert Job.objects.count() == 1


def test_retry_of_an_evaluation_keeps_its_inputs(
    client, member, team, tiny_model, dataset, django_capture_on_commit_callbacks
):

    with django_capture_on_commit_callbacks(execute=False):
        evaluation = launch.launch_job(
            "evaluate",
            team=team,
            user=member,
            name="vs base",
            params={"max_new_tokens": 8},
            models=[("base", tiny_model, None), ("candidate", tiny_model, None)],
            datasets=[("dataset", dataset)],
        )
    Job.objects.filter(pk=evaluation.pk).update(status=Job.Status.CANCELLED)
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/jobs/{evaluation.pk}/retry/")
    new = Job.objects.exclude(pk=evaluation.pk).get()
    assert new.kind == "evaluate" and new.params == evaluation.params
    assert sorted((i.role, i.model_id or i.dataset_id) for i in new.inputs.all()) == sorted(
        (i.role, i.model_id or i.dataset_id) for i in evaluation.inputs.all()
    )


def test_viewers_and_outsiders_cannot_retry(client, viewer, outsider, job):
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
    client.force_login(viewer)
    assert client.post(f"/jobs/{job.pk}/retry/").status_code == 403
    client.force_login(outsider)
    assert client.post(f"/jobs/{job.pk}/retry/").status_code == 404
    assert Job.objects.count() == 1


def test_clone_and_edit_prefills_the_form_and_keeps_settings_it_has_no_field_for(
    client, member, job, django_capture_on_commit_callbacks
):
    params = {**job.params, "lora": {**job.params["lora"], "r": 4, "target_modules": ["q_proj", "v_proj"]}}
    Job.objects.filter(pk=job.pk).update(params=params, status=Job.Status.SUCCEEDED)
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'href="/jobs/new/?from={job.pk}"' in body
    form = client.get(f"/jobs/new/?from={job.pk}").content.decode()
    assert "Clone and edit job #" in form
    assert 'value="support bot (copy)"' in form and re.search(r'name="r" value="4"', form)
    assert f'<input type="hidden" name="from" value="{job.pk}">' in form
    data = {
        "from": job.pk,
        "name": "bigger",
        "base_model": job.base_model_id,
        "dataset": job.dataset_id,
        "r": 8,
    }
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/", data)
    clone = Job.objects.get(name="bigger")
    assert clone.params["lora"]["r"] == 8
    assert clone.params["lora"]["target_modules"] == ["q_proj", "v_proj"]


def test_a_team_preset_fills_the_form_and_keeps_settings_it_has_no_field_for(
    client, member, job, team, django_capture_on_commit_callbacks
):
    from jobs.models import TeamPreset

    lora = {**job.params["lora"], "r": 4, "target_modules": ["q_proj", "v_proj"]}
    preset = TeamPreset.objects.create(
        team=team, name="tuned", method="lora", objective="sft", params={**job.params, "lora": lora}
    )
    client.force_login(member)
    form = client.get(f"/jobs/new/?preset={preset.pk}").content.decode()
    assert "your team's preset “tuned”" in form and re.search(r'name="r" value="4"', form)
    assert f'<input type="hidden" name="preset" value="{preset.pk}">' in form
    data = {
        "preset": preset.pk,
        "name": "from preset",
        "base_model": job.base_model_id,
        "dataset": job.dataset_id,
    }
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/", {**data, "r": 8})
    made = Job.objects.get(name="from preset")
    assert made.params["lora"]["r"] == 8
    assert made.params["lora"]["target_modules"] == ["q_proj", "v_proj"]


def test_a_finished_training_job_offers_to_continue_training(client, member, job):
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'href="/jobs/{job.pk}/continue/">Continue training…' in body  # tests/jobs/test_continue.py


def test_outputs_link_to_the_playground_and_next_jobs(client, member, job, team, tiny_model):
    from jobs.models import ModelAsset

    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    adapter = ModelAsset.objects.create(
        team=team,
        name="bot adapter",
        source="job",
        path="/a",
        task="causal-lm",
        format="adapter",
        adapter_base=tiny_model,
        produced_by=job,
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'href="/models/{adapter.pk}/playground/"' in body
    assert f'action="/jobs/{job.pk}/outputs/{adapter.pk}/evaluate/"' in body


# --- metrics other than loss, evaluations ------------------------------------------------


def test_eval_metrics_other_than_loss_get_their_own_chart(client, member, job):
    attempt = attempt_for(job)
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(job=job, attempt=attempt, name="train/loss", step=s, value=2 - s / 100)
            for s in range(1, 50)
        ]
        + [
            MetricPoint(job=job, attempt=attempt, name="eval/perplexity", step=s, value=9 - s / 10)
            for s in (10, 20, 30)
        ]
        + [
            MetricPoint(job=job, attempt=attempt, name="eval/accuracy", step=s, value=s / 40)
            for s in (10, 20, 30)
        ]
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/live/").content.decode()
    assert body.count("<svg") == 3
    assert 'aria-label="Perplexity (held-out). eval/perplexity: 6 at step 30"' in body
    assert 'aria-label="Accuracy (held-out). eval/accuracy: 0.75 at step 30"' in body
    # The latest-values table marks the best: lowest perplexity, highest accuracy.
    assert re.search(
        r"<code class=\"small muted\">eval/accuracy</code></th><td class=\"num\">0\.75</td>",
        body,
    )


def test_an_evaluation_shows_base_and_candidate_side_by_side(client, member, team, tiny_model):
    evaluation = Job.objects.create(
        team=team, name="vs base", kind="evaluate", base_model=tiny_model, status="succeeded"
    )
    attempt = attempt_for(evaluation, status="succeeded")
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(job=evaluation, attempt=attempt, name="eval/perplexity", step=0, value=40.0),
            MetricPoint(job=evaluation, attempt=attempt, name="eval/perplexity", step=1, value=12.5),
        ]
    )
    add_events(
        attempt,
        "sample",
        [
            {"step": 0, "prompt": "Say hi", "output": "base says", "model": "base"},
            {"step": 1, "prompt": "Say hi", "output": "candidate says", "model": "candidate"},
        ],
    )
    client.force_login(member)
    body = client.get(f"/jobs/{evaluation.pk}/").content.decode()
    assert re.search(
        r"Perplexity \(held-out\) <code[^>]*>eval/perplexity</code></th>\s*<td class=\"num\">40</td>\s*"
        r"<td class=\"num\">12\.5</td>",
        body,
    )
    assert '<span class="better">−27.5</span>' in body
    assert "base says" in body and "candidate says" in body


def test_an_adapter_merges_into_its_base_in_one_click(
    client, member, job, team, tiny_model, django_capture_on_commit_callbacks
):
    from jobs.models import ModelAsset

    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    adapter = ModelAsset.objects.create(
        team=team,
        name="bot adapter",
        source="job",
        path="/a",
        task="causal-lm",
        format="adapter",
        adapter_base=tiny_model,
        produced_by=job,
    )
    client.force_login(member)
    assert (
        f'action="/jobs/{job.pk}/outputs/{adapter.pk}/merge/"'
        in client.get(f"/jobs/{job.pk}/").content.decode()
    )
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/jobs/{job.pk}/outputs/{adapter.pk}/merge/")
    merge = Job.objects.get(kind="merge")
    assert response["Location"] == f"/jobs/{merge.pk}/"
    assert merge.params == {"method": "lora_fold"} and merge.name == "bot adapter merged into tiny-llama"
    assert {(i.role, i.model_id) for i in merge.inputs.all()} == {
        ("base", tiny_model.pk),
        ("model", adapter.pk),
    }


def test_only_a_jobs_own_adapters_merge_and_only_for_members(client, member, viewer, job, team, tiny_model):
    from jobs.models import ModelAsset

    full = ModelAsset.objects.create(
        team=team, name="full model", source="job", path="/f", task="causal-lm", produced_by=job
    )
    client.force_login(member)
    assert client.post(f"/jobs/{job.pk}/outputs/{full.pk}/merge/").status_code == 404  # not an adapter
    client.force_login(viewer)
    assert client.post(f"/jobs/{job.pk}/outputs/{full.pk}/merge/").status_code == 403
    assert not Job.objects.filter(kind="merge").exists()
