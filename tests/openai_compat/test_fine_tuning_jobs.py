"""``fine_tuning/jobs`` and ``models`` through the official client, without a worker: a job made here
is an ordinary Hone job (launch path, presets for "auto", the UI's job); bad bodies are OpenAI-shaped
4xx raised as the client's own exceptions, and nothing is created on refusal."""

from __future__ import annotations

import io

import openai
import pytest
from django.test import Client as DjangoClient

from api.models import OpenAIFineTune
from api.openai_compat import ids
from jobs.models import Job, ModelAsset
from tests.openai_compat.conftest import chat_rows, jsonl, preference_rows


@pytest.fixture
def chat_file(client):
    return client.files.create(file=("chat.jsonl", io.BytesIO(jsonl(chat_rows(24)))), purpose="fine-tune")


@pytest.fixture
def base_id(client, tiny_model) -> str:
    return ids.model_id(tiny_model)


def test_create_is_a_hone_job_with_the_presets_and_the_numbers_given(
    client, chat_file, base_id, member
) -> None:
    job = client.fine_tuning.jobs.create(
        model=base_id,
        training_file=chat_file.id,
        suffix="capitals",
        seed=7,
        metadata={"ticket": "ML-1"},
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": "auto"}},
        },
    )
    record = Job.objects.get(pk=int(job.id.removeprefix("ftjob-")))
    assert (record.kind, record.objective, record.status, record.created_by) == (
        "train",
        "sft",
        "queued",
        member,
    )
    assert record.dataset_id == int(chat_file.id.removeprefix("file-"))
    assert record.params["training"]["epochs"] == 2 and record.params["training"]["seed"] == 7
    assert record.method == "lora"  # the default preset's choice for a small causal LM on CPU
    assert (job.status, job.model, job.training_file, job.user_provided_suffix) == (
        "queued", base_id, chat_file.id, "capitals"
    )  # fmt: skip
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.learning_rate_multiplier == 1.0
    assert job.seed == 7 and job.metadata == {"ticket": "ML-1"}
    assert client.fine_tuning.jobs.retrieve(job.id).id == job.id
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]
    browser = DjangoClient()
    browser.force_login(member)
    page = browser.get(f"/jobs/{record.pk}/")
    assert page.status_code == 200 and "capitals" in page.content.decode()  # the UI's own job page


def test_learning_rate_multiplier_scales_the_presets_rate(client, chat_file, base_id) -> None:
    auto = client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id)
    scaled = client.fine_tuning.jobs.create(
        model=base_id, training_file=chat_file.id, hyperparameters={"learning_rate_multiplier": 0.5}
    )
    rate = {
        j.id: Job.objects.get(pk=ids.parse("job", j.id)).params["training"]["learning_rate"]
        for j in (auto, scaled)
    }
    assert rate[scaled.id] == pytest.approx(rate[auto.id] * 0.5)
    assert scaled.hyperparameters.learning_rate_multiplier == 0.5


def test_dpo_jobs_train_the_dpo_objective_on_preference_files(client, base_id) -> None:
    prefs = client.files.create(file=("p.jsonl", io.BytesIO(jsonl(preference_rows(12)))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=base_id,
        training_file=prefs.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    record = Job.objects.get(pk=ids.parse("job", job.id))
    assert record.objective == "dpo" and record.params["dpo"]["beta"] == 0.2
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2


# (body, the param the 400 names, words its message holds): one test, one team and file, for all.
BAD_BODIES = [
    ({"hyperparameters": {"n_epochs": "lots"}}, "hyperparameters.n_epochs", "positive whole number"),
    ({"hyperparameters": {"n_epochs": 1000}}, "hyperparameters.n_epochs", "less than or equal to 100"),
    ({"hyperparameters": {"warmup": 3}}, "hyperparameters.warmup", "not a hyperparameter"),
    ({"method": {"type": "reinforcement"}}, "method.reinforcement.grader", "is required"),
    ({"method": {"type": "dpo"}}, "training_file", "preference"),
    ({"suffix": "x" * 65}, "suffix", "1 to 64"),
    ({"seed": -1}, "seed", "seed"),
    ({"metadata": {"k": 3}}, "metadata", "text values"),
]


def test_bad_bodies_are_400s_naming_the_field(client, chat_file, base_id) -> None:
    wrong = []
    for body, param, words in BAD_BODIES:
        try:
            client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id, **body)
        except openai.BadRequestError as exc:
            error = exc.body
        else:
            wrong.append(f"{param}: no 400")
            continue
        if error["param"] != param or words not in error["message"]:
            wrong.append(f"{param}: {error}")
        if error["type"] != "invalid_request_error":
            wrong.append(f"{param}: type {error['type']}")
        if Job.objects.exists() or OpenAIFineTune.objects.exists():
            wrong.append(f"{param}: a job was created")
    assert wrong == [], "\n".join(wrong)


def test_a_validation_file_is_what_the_trainer_evaluates_on(client, chat_file, base_id) -> None:
    from jobs.data import storage
    from jobs.lifecycle.specs import build_spec

    held_out = client.files.create(file=("valid.jsonl", io.BytesIO(jsonl(chat_rows(6)))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=base_id, training_file=chat_file.id, validation_file=held_out.id
    )
    assert job.validation_file == held_out.id
    record = Job.objects.get(pk=ids.parse("job", job.id))
    validation = record.inputs.get(role="validation").dataset
    assert build_spec(record, 1, None)["dataset"]["eval_path"] == str(storage.resolve(validation.location))


def test_a_validation_file_of_another_kind_is_refused(client, chat_file, base_id) -> None:
    prefs = client.files.create(file=("p.jsonl", io.BytesIO(jsonl(preference_rows(4)))), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id, validation_file=prefs.id)
    assert caught.value.body["param"] == "validation_file"
    assert "same kind" in caught.value.body["message"]
    assert not Job.objects.exists()


def test_unknown_or_other_teams_models_files_and_jobs_are_not_found(
    client, outsider_client, chat_file, base_id
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=chat_file.id)
    assert caught.value.body["code"] == "model_not_found" and caught.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError) as caught:
        outsider_client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id)
    assert caught.value.body["param"] == "training_file"
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id, validation_file="file-999")
    assert caught.value.body["param"] == "validation_file"
    job = client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id)
    for call in (
        outsider_client.fine_tuning.jobs.retrieve,
        outsider_client.fine_tuning.jobs.cancel,
        outsider_client.fine_tuning.jobs.list_events,
        outsider_client.fine_tuning.jobs.checkpoints.list,
    ):
        with pytest.raises(openai.NotFoundError):
            call(job.id)
    assert list(outsider_client.fine_tuning.jobs.list()) == []
    assert Job.objects.get().status == "queued"


def test_cancel_a_queued_job_and_a_finished_one_is_refused(client, chat_file, base_id, viewer_client) -> None:
    job = client.fine_tuning.jobs.create(model=base_id, training_file=chat_file.id)
    with pytest.raises(openai.PermissionDeniedError):
        viewer_client.fine_tuning.jobs.cancel(job.id)
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"  # again: the same answer
    Job.objects.filter(pk=ids.parse("job", job.id)).update(status="succeeded")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.cancel(job.id)
    assert caught.value.body["code"] == "job_finished"


def test_models_lists_bases_and_fine_tunes_and_deletes_only_fine_tunes(client, tiny_model, team) -> None:
    base_id = ids.model_id(tiny_model)
    assert base_id in [m.id for m in client.models.list()]
    assert client.models.retrieve(base_id).owned_by == "hone"
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete(base_id)
    job = Job.objects.create(team=team, name="t", base_model=tiny_model, status="succeeded")
    OpenAIFineTune.objects.create(job=job, suffix="mine")
    tuned = ModelAsset.objects.create(
        team=team, name="t · adapter", source="job", path="/nowhere", task="causal-lm",
        format="adapter", adapter_base=tiny_model, produced_by=job,
    )  # fmt: skip
    tuned_id = f"ft:tiny-llama:{team.slug}:mine:{tuned.pk}"
    assert tuned_id in [m.id for m in client.models.list()]
    assert client.models.retrieve(tuned_id).owned_by == team.slug
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(f"ft:tiny-llama:{team.slug}:other:{tuned.pk}")
    assert client.models.delete(tuned_id).deleted is True
    assert not ModelAsset.objects.filter(pk=tuned.pk).exists()
