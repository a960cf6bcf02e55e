"""Pages that start quantize and evaluate jobs, and the one-click next steps."""

from __future__ import annotations

import re

import pytest

from jobs.models import Job, ModelAsset


@pytest.fixture
def adapter(team, tiny_model, member, dataset):
    trained = Job.objects.create(
        team=team, name="run", base_model=tiny_model, dataset=dataset, status="succeeded"
    )
    return ModelAsset.objects.create(
        team=team,
        name="run · adapter",
        source="job",
        format="adapter",
        path="/store/adapter",
        task="causal-lm",
        adapter_base=tiny_model,
        produced_by=trained,
    )


def test_the_quantize_form_offers_full_precision_models_only(client, member, tiny_model, adapter):
    client.force_login(member)
    body = client.get(f"/jobs/new/quantize/?model={tiny_model.pk}").content.decode()
    # Only the model list: a dataset list on the page may hold the same ids.
    models = re.search(r'<select name="model".*?</select>', body, re.S).group(0)
    assert f'<option value="{tiny_model.pk}" selected>' in models
    assert f'<option value="{adapter.pk}"' not in models
    assert 'name="group_size"' in body and 'name="symmetric"' in body


def test_it_queues_a_quantize_job(client, member, tiny_model, django_capture_on_commit_callbacks):
    client.force_login(member)
    form = {
        "model": tiny_model.pk,
        "method": "rtn_int4",
        "outputs": ["torchao", "gguf_q8_0"],
        "group_size": 64,
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/quantize/", form)
    job = Job.objects.get(kind="quantize")
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.params == {
        "method": "rtn_int4",
        "outputs": ["torchao", "gguf_q8_0"],
        "params": {"group_size": 64, "symmetric": False},
    }


def test_a_spec_error_shows_next_to_its_field(client, member, tiny_model, dataset):
    client.force_login(member)
    form = {"model": tiny_model.pk, "method": "rtn_int8", "outputs": ["torchao"], "calibration": dataset.pk}
    response = client.post("/jobs/new/quantize/", form)
    assert response.status_code == 200
    error = response.context["form"].errors["calibration"][0]
    calibrated = "only gptq_int4, awq_int4, mixed_precision and the GGUF k-quant outputs' importance matrix"
    assert calibrated in error
    assert not Job.objects.filter(kind="quantize").exists()


def test_viewers_cannot_start_a_quantize_job(client, viewer, tiny_model):
    client.force_login(viewer)
    form = {"model": tiny_model.pk, "method": "rtn_int8", "outputs": ["torchao"]}
    assert client.post("/jobs/new/quantize/", form).status_code == 403


def test_evaluate_against_base_in_one_click(
    client, member, adapter, tiny_model, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/jobs/{adapter.produced_by_id}/outputs/{adapter.pk}/evaluate/")
    job = Job.objects.get(kind="evaluate")
    assert response["Location"] == f"/jobs/{job.pk}/"
    roles = {(i.role, i.model_id) for i in job.inputs.all()}
    assert roles == {("base", tiny_model.pk), ("candidate", adapter.pk)}


def test_an_outsider_cannot_evaluate_another_teams_output(client, outsider, adapter):
    client.force_login(outsider)
    assert client.post(f"/jobs/{adapter.produced_by_id}/outputs/{adapter.pk}/evaluate/").status_code == 404


def test_the_job_page_offers_next_steps_for_outputs(client, member, adapter):
    client.force_login(member)
    body = client.get(f"/jobs/{adapter.produced_by_id}/").content.decode()
    assert f"/outputs/{adapter.pk}/evaluate/" in body
    assert "Quantize…" not in body  # an adapter is folded into its base before quantizing


def test_the_evaluate_form_refuses_models_of_different_tasks(client, member, tiny_model):
    encoder = ModelAsset.objects.create(
        name="minilm", source="builtin", path="/m", task="sequence-classification"
    )
    client.force_login(member)
    response = client.post(
        "/jobs/new/evaluate/", {"base": tiny_model.pk, "candidate": encoder.pk, "max_new_tokens": 16}
    )
    assert "different task" in response.context["form"].errors["candidate"][0]
