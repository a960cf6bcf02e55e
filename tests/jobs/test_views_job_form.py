"""The new-job form: fields from trainers.spec, validation next to each field, team scoping."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data.datasets import create_dataset
from jobs.models import Job, ModelAsset
from jobs.web.forms import PARAM_GROUPS
from tests.conftest import jsonl_bytes
from trainers.spec import LoraParams, TrainingParams


@pytest.fixture
def theirs(other_team, outsider, demo_rows):
    upload = SimpleUploadedFile("theirs.jsonl", jsonl_bytes(demo_rows))
    return create_dataset(team=other_team, user=outsider, name="globex data", upload=upload)


def form_data(model_id: int, dataset_id: int, **overrides) -> dict:
    data = {
        "name": "my run",
        "base_model": model_id,
        "dataset": dataset_id,
        "r": 16,
        "alpha": 32,
        "dropout": 0.1,
        "learning_rate": 1e-4,
        "epochs": 2,
        "batch_size": 4,
        "max_seq_length": 256,
    }
    return data | overrides


def input_tag(body: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*>', body)
    assert found, f"no input named {name}"
    return found.group(0)


def test_job_form_shows_defaults_bounds_and_help_from_the_spec(client, member, tiny_model, dataset):
    client.force_login(member)
    body = client.get("/jobs/new/").content.decode()
    for _title, model, names in PARAM_GROUPS.values():
        for name in names:
            field, tag = model.model_fields[name], input_tag(body, name)
            if field.annotation is bool:
                assert ("checked" in tag) is field.default, name
            elif field.default is None:  # optional: blank means not used
                assert "value=" not in tag, name
            else:
                assert f'value="{field.default}"' in tag
            if field.description:
                assert field.description in body
    assert 'min="1"' in input_tag(body, "r") and 'max="256"' in input_tag(body, "r")
    assert "At least 1 and at most 256. Default 8." in body
    assert "More than 0 and at most 1. Default 0.0002." in body
    assert f'<option value="{tiny_model.pk}">' in body
    assert f'<option value="{dataset.pk}">' in body
    assert "Start training" in body


def test_it_creates_a_job_and_redirects_to_its_page(
    client, member, team, tiny_model, dataset, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk))
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert (job.team, job.created_by, job.name, job.status) == (team, member, "my run", "queued")
    assert job.params == {
        "lora": LoraParams(r=16, alpha=32, dropout=0.1).model_dump(),
        "training": TrainingParams(
            learning_rate=1e-4, epochs=2, batch_size=4, max_seq_length=256
        ).model_dump(),
    }
    # the "queued" announcement, which enqueues dispatch, waits for the commit; nothing ran here
    assert len(callbacks) == 1
    assert not job.attempts.exists()


def test_blank_settings_take_the_spec_defaults_and_a_name_is_made_up(
    client, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    client.force_login(member)
    blank = {name: "" for _t, _m, names in PARAM_GROUPS.values() for name in names}
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk, name="", **blank))
    job = Job.objects.get()
    assert job.params == {"lora": LoraParams().model_dump(), "training": TrainingParams().model_dump()}
    assert job.name == f"{tiny_model.name} on {dataset.name}"


def test_speed_and_checkpoint_settings_are_in_the_form_blank_meaning_off(
    client, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    client.force_login(member)
    page = client.get("/jobs/new/").content.decode()
    for name in ("packing", "group_by_length", "max_batch_tokens", "save_every_steps"):
        assert f'name="{name}"' in page, name
    data = form_data(
        tiny_model.pk, dataset.pk, group_by_length="on", max_batch_tokens=2048, keep_checkpoints=3
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/jobs/new/", data).status_code == 302
    training = Job.objects.get().params["training"]
    assert (training["group_by_length"], training["max_batch_tokens"], training["keep_checkpoints"]) == (
        True, 2048, 3,
    )
    assert (training["packing"], training["save_every_steps"], training["early_stopping_patience"]) == (
        False, None, None,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("r", 0, "greater than or equal to 1"),
        ("learning_rate", 5, "less than or equal to 1"),
        ("dropout", 1, "less than 1"),
        ("max_seq_length", 8, "greater than or equal to 16"),
        ("batch_size", "many", "Enter a whole number"),
    ],
)
def test_it_shows_a_bad_setting_next_to_its_field(client, member, tiny_model, dataset, field, value, message):
    client.force_login(member)
    response = client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk, **{field: value}))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert message in response.context["form"].errors[field][0]
    body = response.content.decode()
    assert re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>[^<]*{message}', body)
    assert not Job.objects.exists()


def test_it_rejects_other_teams_dataset(client, member, tiny_model, theirs):
    client.force_login(member)
    response = client.post("/jobs/new/", form_data(tiny_model.pk, theirs.pk))
    assert response.status_code == 200
    assert "dataset" in response.context["form"].errors
    assert not Job.objects.exists()


def other_teams_model(other_team) -> int:
    return ModelAsset.objects.create(
        name="theirs", source="local", path="/m", team=other_team, task="causal-lm"
    ).pk


def builtin_classifier(other_team) -> int:
    return ModelAsset.objects.create(
        name="cls", source="builtin", path="/m", task="sequence-classification"
    ).pk


def unknown_model(other_team) -> int:
    return 999_999


@pytest.mark.parametrize("make_model", [other_teams_model, builtin_classifier, unknown_model])
def test_it_rejects_a_model_the_team_cannot_train(client, member, other_team, dataset, make_model):
    client.force_login(member)
    response = client.post("/jobs/new/", form_data(make_model(other_team), dataset.pk))
    assert response.status_code == 200
    assert "base_model" in response.context["form"].errors
    assert not Job.objects.exists()


def test_viewer_sees_no_launch_button_and_cannot_post(client, viewer, tiny_model, dataset):
    client.force_login(viewer)
    assert "Start training" not in client.get("/jobs/new/").content.decode()
    assert client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk)).status_code == 403
    assert not Job.objects.exists()


def test_it_preselects_the_dataset_from_the_query(client, member, tiny_model, dataset):
    client.force_login(member)
    body = client.get(f"/jobs/new/?dataset={dataset.pk}").content.decode()
    assert f'<option value="{dataset.pk}" selected>' in body


def test_a_dataset_from_the_query_picks_an_objective_that_learns_from_it(client, member, tiny_model, pairs):
    client.force_login(member)
    body = client.get(f"/jobs/new/?dataset={pairs.pk}").content.decode()
    assert '<option value="dpo" selected>' in body and f'<option value="{pairs.pk}" selected>' in body
    assert '<option value="sft" selected>' in client.get("/jobs/new/?dataset=x").content.decode()


def test_it_says_to_upload_a_dataset_first(client, member, tiny_model):
    client.force_login(member)
    assert "No datasets yet — upload one" in client.get("/jobs/new/").content.decode()


def test_it_offers_every_method_with_its_own_settings_and_help(client, member, tiny_model, dataset):
    from django.utils.html import escape

    from trainers import catalogue

    client.force_login(member)
    body = client.get("/jobs/new/").content.decode()
    for method in catalogue.methods("train"):  # descriptions as the page writes them ("layer&#x27;s")
        assert f'<option value="{method.name}"' in body and escape(method.description) in body
    assert '<option value="lora" selected' in body
    # a method's own parameters: first ones shown, the rest folded away, each with its help
    assert 'data-methods="lisa"' in body and "How many blocks train at a time." in body
    lisa = body[body.index('data-methods="lisa"') :]
    lisa = lisa[: lisa.index("</fieldset>")]
    assert lisa.index('name="lisa__period"') < lisa.index("<details") < lisa.index('name="lisa__train_head"')
    assert 'name="init"' in body and '<option value="pissa">pissa</option>' in body  # LoRA options


def test_it_creates_a_job_of_the_chosen_method(
    client, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    client.force_login(member)
    data = form_data(tiny_model.pk, dataset.pk, method="loraplus", loraplus__lr_ratio=8, use_dora="on")
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/", data)
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.method == "loraplus"
    assert job.params["method_params"] == {"lr_ratio": 8.0, "lr_embedding": 1e-6}
    assert job.params["lora"]["use_dora"] is True and job.params["lora"]["r"] == 16
    assert set(job.params) == {"lora", "method_params", "training"}


def test_a_method_without_lora_keeps_no_lora_settings(
    client, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    client.force_login(member)
    data = form_data(tiny_model.pk, dataset.pk, method="freeze", freeze__trainable_modules="norm, lm_head")
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/", data)
    job = Job.objects.get()
    assert job.method == "freeze" and set(job.params) == {"method_params", "training"}
    assert job.params["method_params"]["trainable_modules"] == ["norm", "lm_head"]


def test_a_bad_method_setting_shows_next_to_its_field(client, member, tiny_model, dataset):
    client.force_login(member)
    response = client.post(
        "/jobs/new/", form_data(tiny_model.pk, dataset.pk, method="lisa", lisa__n_layers=0)
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["lisa__n_layers"]
    assert "greater than or equal to 1" in response.context["form"].errors["lisa__n_layers"][0]
    assert not Job.objects.exists()


def test_clone_and_edit_starts_from_the_sources_method(client, member, tiny_model, dataset):
    from jobs import launch

    source = launch.launch_training(
        team=dataset.team, user=member, name="src", base_model=tiny_model, dataset=dataset, method="vera",
        params={"method_params": {"r": 64}, "training": {}},
    )  # fmt: skip
    client.force_login(member)
    body = client.get(f"/jobs/new/?from={source.pk}").content.decode()
    assert '<option value="vera" selected' in body
    assert 'value="64"' in input_tag(body, "vera__r")


def test_the_job_page_names_the_method_and_its_settings(client, member, tiny_model, dataset):
    from jobs import launch

    job = launch.launch_training(
        team=dataset.team, user=member, name="j", base_model=tiny_model, dataset=dataset, method="lisa",
        params={"method_params": {"n_layers": 3}, "training": {}},
    )  # fmt: skip
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Fine-tune · LISA (layer-wise sampling)" in body
    assert "LISA (layer-wise sampling) settings" in body and "n_layers" in body


# --- objectives -------------------------------------------------------------------


@pytest.fixture
def pairs(team, member):
    rows = [{"prompt": f"Say {w}.", "chosen": w, "rejected": w[::-1]} for w in ["yes", "no", "maybe", "ok"]]
    return create_dataset(
        team=team, user=member, name="pairs", upload=SimpleUploadedFile("p.jsonl", jsonl_bytes(rows))
    )


@pytest.fixture
def labelled(team, member):
    rows = [{"text": f"row {i}", "label": ["a", "b"][i % 2]} for i in range(6)]
    return create_dataset(
        team=team, user=member, name="labelled", upload=SimpleUploadedFile("l.jsonl", jsonl_bytes(rows))
    )


@pytest.fixture
def prose(team, member):
    rows = [{"text": f"Plain text number {i}, long enough to read."} for i in range(6)]
    return create_dataset(
        team=team, user=member, name="prose", upload=SimpleUploadedFile("t.jsonl", jsonl_bytes(rows))
    )


@pytest.fixture
def encoder(db, tiny_model_dir):
    """A classification model, as the MiniLM demo model is registered."""
    return ModelAsset.objects.create(
        name="minilm", source="builtin", path=str(tiny_model_dir), task="sequence-classification",
        architecture="BertModel",
    )  # fmt: skip


def test_the_form_offers_each_objective_with_its_data_and_own_settings(client, member, tiny_model, dataset):
    from trainers.objectives.params import OBJECTIVE_PARAMS, OBJECTIVE_TITLES

    client.force_login(member)
    body = client.get("/jobs/new/").content.decode()
    assert re.search(
        r'<option value="sft" selected>Supervised fine-tuning[^<]*, from instruction, chat or text data', body
    )
    for name, title in OBJECTIVE_TITLES.items():
        assert f'<option value="{name}"' in body and title in body
    assert "Direct Preference Optimization (DPO), from preference data" in body
    # without JavaScript every objective's settings are on the page (job_form.js shows the chosen one's)
    for name, model in OBJECTIVE_PARAMS.items():
        assert f'data-objective-group="{name}"' in body
        assert all(f'name="{name}__{field}"' in body for field in model.model_fields)
    dpo = body[body.index('data-objective-group="dpo"') :]
    dpo = dpo[: dpo.index("</fieldset>")]
    beta = input_tag(dpo, "dpo__beta")
    assert 'value="0.1"' in beta and 'min="0.0"' in beta and 'max="10.0"' in beta
    assert (
        "How far the model may drift from the reference" in dpo
        and "More than 0 and at most 10. Default 0.1." in dpo
    )
    assert (
        dpo.index('name="dpo__loss_type"') < dpo.index("<details") < dpo.index('name="dpo__label_smoothing"')
    )
    assert 'href="https://arxiv.org/abs/2305.18290"' in dpo
    # each method option says which objectives it trains; prompt tuning only the text ones
    assert '<option value="prompt_tuning" data-objectives="sft pretrain">' in body
    assert "Trains sft or pretrain only." in body


def post_job(client, data: dict, capture) -> object:
    with capture(execute=False):
        return client.post("/jobs/new/", data)


@pytest.mark.parametrize(
    ("objective", "data", "model", "extra"),
    [
        ("sft", "dataset", "tiny_model", {}),
        ("pretrain", "prose", "tiny_model", {}),
        ("classification", "labelled", "encoder", {}),
        ("dpo", "pairs", "tiny_model", {"dpo__beta": 0.3, "dpo__loss_type": "ipo", "kto__beta": 5}),
    ],
)
def test_the_chosen_objective_reaches_the_spec(
    client, member, request, django_capture_on_commit_callbacks, objective, data, model, extra
):
    from jobs.lifecycle import specs

    dataset, base = request.getfixturevalue(data), request.getfixturevalue(model)
    client.force_login(member)
    form = form_data(base.pk, dataset.pk, objective=objective, **extra)
    response = post_job(client, form, django_capture_on_commit_callbacks)
    assert response.status_code == 302, response.context["form"].errors
    job = Job.objects.get()
    spec = specs.build_spec(job, 1, None)
    assert spec["objective"] == objective
    if objective == "dpo":
        assert spec["dpo"] == {"beta": 0.3, "loss_type": "ipo", "label_smoothing": 0.0}
        # only the chosen objective's group is kept, whatever else the page sent
        assert set(job.params) == {"dpo", "lora", "training"} and spec["kto"] is None
    else:
        assert job.objective == objective and "objective" not in job.params


def test_a_dataset_the_objective_cannot_learn_from_is_an_error_next_to_it(
    client, member, tiny_model, dataset, pairs
):
    client.force_login(member)
    response = client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk, objective="dpo"))
    assert response.status_code == 200 and list(response.context["form"].errors) == ["dataset"]
    message = response.context["form"].errors["dataset"][0]
    assert message == (
        "demo holds instruction data, but the dpo objective learns from preference data; pick such a "
        "dataset, or objective sft, grpo, rejection_sampling or refusal_aware. Datasets here that fit: pairs."
    )  # word for word what the API says (tests/api/test_job_objectives.py)
    body = response.content.decode()
    assert re.search(r'<ul class="errorlist" id="id_dataset_error"><li>demo holds instruction data', body)
    response = client.post("/jobs/new/", form_data(tiny_model.pk, pairs.pk, objective="pretrain"))
    message = response.context["form"].errors["dataset"][0]
    assert "pick such a dataset, or objective dpo, orpo, simpo or kto" in message
    assert "This team has no text dataset yet; upload one." in message
    assert not Job.objects.exists()


def test_only_a_method_that_trains_the_objective_and_a_classifier_from_a_classification_model(
    client, member, tiny_model, encoder, pairs, dataset
):
    client.force_login(member)
    response = client.post(
        "/jobs/new/", form_data(tiny_model.pk, pairs.pk, objective="dpo", method="prompt_tuning")
    )
    message = response.context["form"].errors["method"][0]
    assert message.startswith("Prompt tuning does not train the dpo objective; pick lora, loraplus, ")
    assert "prompt_tuning" not in message and "prefix_tuning" not in message
    response = client.post("/jobs/new/", form_data(encoder.pk, dataset.pk))
    assert (
        "pick a text-generation one, or the classification objective"
        in response.context["form"].errors["base_model"][0]
    )
    assert (
        f'<option value="{encoder.pk}" selected>minilm (built-in, classification)</option>'
        in response.content.decode()
    )
    assert not Job.objects.exists()


def test_clone_and_edit_keeps_objective_method_and_their_settings_exactly(
    client, member, tiny_model, pairs, django_capture_on_commit_callbacks
):
    from jobs import launch
    from jobs.lifecycle import specs
    from tests.jobs.html_form import submitted
    from trainers import catalogue
    from trainers.objectives.params import DpoParams

    lisa = catalogue.get("lisa").params["method_params"]
    params = {
        "dpo": DpoParams(beta=0.35, loss_type="hinge", label_smoothing=0.05).model_dump(mode="json"),
        "method_params": lisa(n_layers=3, period=7, train_head=False).model_dump(mode="json"),
        # packing is a checkbox: pre-filled from the source job, submitted as it was
        "training": TrainingParams(learning_rate=3e-5, epochs=2, seed=7, packing=True).model_dump(
            mode="json"
        ),
    }
    source = launch.launch_training(
        team=pairs.team,
        user=member,
        name="src",
        base_model=tiny_model,
        dataset=pairs,
        method="lisa",
        objective="dpo",
        params=params,
    )
    client.force_login(member)
    page = client.get(f"/jobs/new/?from={source.pk}").content.decode()
    assert re.search(r'<option value="dpo" selected>', page) and 'value="0.35"' in input_tag(
        page, "dpo__beta"
    )
    response = post_job(client, submitted(page), django_capture_on_commit_callbacks)
    assert response.status_code == 302, response.context["form"].errors
    copy = Job.objects.exclude(pk=source.pk).get()
    assert (copy.method, copy.dataset, copy.base_model, copy.name) == (
        "lisa",
        pairs,
        tiny_model,
        "src (copy)",
    )
    assert (copy.objective, copy.params) == ("dpo", source.params)
    assert specs.build_spec(copy, 1, None)["dpo"]["beta"] == 0.35
    page = client.get(f"/jobs/{copy.pk}/").content.decode()
    assert "<caption>Direct Preference Optimization (DPO) settings</caption>" in page


def test_api_retry_and_clone_keep_objective_method_and_settings(member, team, tiny_model, pairs, settings):
    from jobs import launch
    from tests.api.helpers import client_for
    from trainers import catalogue
    from trainers.objectives.params import KtoParams

    freeze = catalogue.get("freeze").params["method_params"]

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    params = {
        "kto": KtoParams(beta=0.2, desirable_weight=1.5).model_dump(mode="json"),
        "method_params": freeze(trainable_modules=["norm"], train_head=False).model_dump(mode="json"),
        "training": TrainingParams(epochs=1).model_dump(mode="json"),
    }
    source = launch.launch_training(
        team=team,
        user=member,
        name="src",
        base_model=tiny_model,
        dataset=pairs,
        method="freeze",
        objective="kto",
        params=params,
    )
    Job.objects.filter(pk=source.pk).update(status="failed")
    api = client_for(member, team)
    for action in ("retry", "clone"):
        response = api.post(f"/api/v1/jobs/{source.pk}/{action}", {}, format="json")
        assert response.status_code == 201, response.content
        copy = Job.objects.get(pk=response.json()["id"])
        assert (copy.method, copy.objective, copy.params) == ("freeze", "kto", source.params), action


def test_every_control_of_the_form_has_a_label(client, member, tiny_model, dataset):
    from tests.jobs.html_form import read_form

    client.force_login(member)
    form = read_form(client.get("/jobs/new/").content.decode())
    assert len(form.controls) > 40
    unlabelled = [c.get("name") for c in form.controls if c.get("id") not in form.labelled]
    assert unlabelled == []


def test_a_grpo_job_takes_its_rewards_as_names_with_weights(
    client, member, tiny_model, team, django_capture_on_commit_callbacks
):
    from trainers.tiny import larger_number_rows

    upload = SimpleUploadedFile("sums.jsonl", jsonl_bytes(larger_number_rows(20)))
    sums = create_dataset(team=team, user=member, name="sums", upload=upload)
    client.force_login(member)
    data = form_data(tiny_model.pk, sums.pk, objective="grpo", max_seq_length=128, learning_rate=1e-5,
                     grpo__rewards="math, length_penalty:0.1", grpo__num_generations=4)  # fmt: skip
    response = post_job(client, data, django_capture_on_commit_callbacks)
    assert response.status_code == 302, response.context["form"].errors
    rewards = Job.objects.get().params["grpo"]["rewards"]
    assert [(r["name"], r["weight"]) for r in rewards] == [("math", 1.0), ("length_penalty", 0.1)]


def test_a_reward_that_cannot_score_the_data_is_an_error_next_to_the_rewards(
    client, member, tiny_model, team
):
    rows = [{"prompt": "Name a colour.", "answer": "blue"}] * 3
    colours = create_dataset(team=team, user=member, name="colours",
                             upload=SimpleUploadedFile("colours.jsonl", jsonl_bytes(rows)))  # fmt: skip
    client.force_login(member)
    data = form_data(tiny_model.pk, colours.pk, objective="grpo", max_seq_length=64, grpo__rewards="math")
    response = client.post("/jobs/new/", data)
    assert response.status_code == 200 and not Job.objects.exists()
    errors = response.context["form"].errors["grpo__rewards"]
    assert errors[0] == (
        "colours, line 1, field 'answer': math cannot score this row: the answer 'blue' is not a number or a "
        "mathematical expression"
    )
    assert len(errors) == 3  # each row named


def test_the_form_creates_sparse_and_half_fine_tuning_jobs(
    client, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    client.force_login(member)
    body = client.get("/jobs/new/").content.decode()
    assert 'data-methods="spiel"' in body and 'name="spiel__density"' in body and 'name="hft__period"' in body
    data = form_data(tiny_model.pk, dataset.pk, method="spiel", spiel__density=0.02, spiel__regrow="sm3")
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/jobs/new/", data).status_code == 302
    job = Job.objects.get()
    assert job.method == "spiel" and set(job.params) == {"method_params", "training"}
    assert (job.params["method_params"]["density"], job.params["method_params"]["regrow"]) == (0.02, "sm3")
    bad = form_data(tiny_model.pk, dataset.pk, method="spiel", spiel__density=0)
    refused = client.post("/jobs/new/", bad)
    assert list(refused.context["form"].errors) == ["spiel__density"]
