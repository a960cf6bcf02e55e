"""The one launch path (jobs/launch/): every door refuses the same things in the same words, and a
job that can no longer run at dispatch fails alone instead of holding up the queue."""

from __future__ import annotations

import pytest

from jobs import launch
from jobs.launch import LaunchRefused
from jobs.lifecycle import services
from jobs.models import ComputeProfile, Job, JobTransition, ModelAsset
from tests.api.helpers import client_for, fields, problem
from tests.jobs.test_lifecycle import PARAMS, wait_until_exited
from tests.jobs.test_lifecycle import _fake_trainer as _fake_trainer  # autouse: the fake trainer runs
from tests.jobs.test_views_job_form import form_data


@pytest.fixture
def adapter(team, tiny_model):
    return ModelAsset.objects.create(
        team=team, name="run · adapter", source="job", format="adapter", path="/store/adapter",
        task="causal-lm", adapter_base=tiny_model,
    )  # fmt: skip


@pytest.fixture
def gguf(team):
    return ModelAsset.objects.create(
        team=team,
        name="run · q4_0",
        source="job",
        format="gguf",
        path="/store/model.q4_0.gguf",
        task="causal-lm",
    )


def _train(team, member, base, dataset, **fields) -> Job:
    return launch.launch_training(
        team=team, user=member, name="j", base_model=base, dataset=dataset, params=PARAMS, **fields
    )


def test_an_adapter_or_a_gguf_file_is_refused_as_a_base_naming_what_to_pick(
    team, member, dataset, adapter, gguf, tiny_model
):
    with pytest.raises(LaunchRefused) as refused:
        _train(team, member, adapter, dataset)
    (only,) = refused.value.problems
    assert only.loc == ("base_model",)
    assert (
        f"LoRA adapter, not a model to start from; pick its base model (tiny-llama, id {tiny_model.pk})"
        in (only.message)
    )
    with pytest.raises(
        LaunchRefused, match="GGUF file for llama.cpp-family runtimes; pick a transformers model"
    ):
        _train(team, member, gguf, dataset)
    assert not Job.objects.exists()


def test_the_api_refuses_an_adapter_base_with_a_400_on_base_model_and_lists_only_bases(
    member, team, dataset, adapter, gguf, tiny_model
):
    api = client_for(member, team)
    body = {"base_model": adapter.pk, "dataset": dataset.pk}
    errors = fields(problem(api.post("/api/v1/jobs", body, format="json"), 400))
    assert "not a model to start from" in errors["base_model"]
    listed = [m["id"] for m in api.get("/api/v1/models?task=causal-lm").json()]
    assert {adapter.pk, gguf.pk, tiny_model.pk} <= set(listed)
    bases = [m["id"] for m in api.get("/api/v1/models?task=causal-lm&usable_as=base").json()]
    assert tiny_model.pk in bases and adapter.pk not in bases and gguf.pk not in bases
    assert not Job.objects.exists()


def test_the_form_and_the_api_refuse_qlora_on_a_profile_without_a_gpu_in_the_same_words(
    client, member, team, tiny_model, dataset, settings
):
    ComputeProfile.objects.update_or_create(name="cpu-only", defaults={"gpu_count": 0})
    settings.HONE_DEFAULT_PROFILE = "cpu-only"
    client.force_login(member)
    response = client.post("/jobs/new/", form_data(tiny_model.pk, dataset.pk, method="qlora"))
    assert response.status_code == 200
    in_the_form = response.context["form"].errors["method"]
    in_the_api = fields(
        problem(
            client_for(member, team).post(
                "/api/v1/jobs",
                {"base_model": tiny_model.pk, "dataset": dataset.pk, "method": "qlora"},
                format="json",
            ),
            400,
        )
    )["method"]
    assert in_the_form == [in_the_api]
    assert (
        "needs a CUDA GPU and compute profile cpu-only has none; pick a GPU profile, or use lora"
        in in_the_api
    )
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_spec_no_longer_builds_fails_and_the_next_one_starts(team, member, tiny_model, dataset):
    broken = _train(team, member, tiny_model, dataset)
    fine = _train(team, member, tiny_model, dataset)
    # Its record changed after it was checked (say, by hand in the admin): the spec refuses it now.
    Job.objects.filter(pk=broken.pk).update(params={**broken.params, "training": {"epochs": -1}})
    attempt = services.dispatch(fine.pk)
    broken.refresh_from_db()
    assert broken.status == Job.Status.FAILED and not broken.attempts.exists()
    assert broken.error.startswith("the job can no longer run as it was set up: training.epochs:")
    assert list(JobTransition.objects.filter(job=broken).values_list("status", flat=True)) == [
        "queued", "starting", "failed"
    ]  # fmt: skip
    assert attempt is not None and attempt.job_id == fine.pk
    wait_until_exited(attempt)


def test_a_failing_dispatch_does_not_stop_the_reconciler(db, monkeypatch, caplog):
    def broken_dispatch(job_id=None):
        raise RuntimeError("the queue could not be read")

    monkeypatch.setattr(services, "dispatch", broken_dispatch)
    services.reconcile()  # logs, and the next cycle tries again
    assert "dispatching from the reconciler failed" in caplog.text


def test_retry_of_a_merge_goes_through_the_same_checks(team, member, tiny_model, adapter):
    merge = launch.launch_job(
        Job.Kind.MERGE, team=team, user=member, name="fold", params={"method": "lora_fold"},
        models=[("base", tiny_model, None), ("model", adapter, None)],
    )  # fmt: skip
    Job.objects.filter(pk=merge.pk).update(status=Job.Status.FAILED)
    ModelAsset.objects.filter(pk=adapter.pk).update(quantization="int4")  # what it reads changed since
    from jobs.launch.rerun import RetryRefused, retry

    with pytest.raises(RetryRefused, match=r"models\.0: run · adapter is quantized \(int4\); a merge needs"):
        retry(Job.objects.get(pk=merge.pk), user=member)
