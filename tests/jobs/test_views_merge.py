"""The page that merges several models: the method's fields from its schema, errors next to the
field, reachable from the models list and a finished job's outputs, other teams' models refused."""

from __future__ import annotations

import pytest

from jobs.models import Job, ModelAsset


@pytest.fixture
def tune(team, tiny_model_dir, member, dataset, tiny_model):
    """A fine-tune made by a finished job of the team (tiny_model's files: compatible with it)."""
    trained = Job.objects.create(
        team=team, name="run", base_model=tiny_model, dataset=dataset, status="succeeded"
    )
    return ModelAsset.objects.create(
        team=team, name="tune", source="job", path=str(tiny_model_dir), task="causal-lm", produced_by=trained
    )


def ties_form(tiny_model, tune, **changes) -> dict:
    return {
        "method": "ties",
        "models": [tune.pk, tiny_model.pk],
        f"weight_{tune.pk}": "0.7",
        f"weight_{tiny_model.pk}": "",
        "base_model": tiny_model.pk,
        "density": "0.3",
        "normalize": "on",  # a checkbox checked by default, as a browser posts it
        "dtype": "auto",
        **changes,
    }


def test_the_page_builds_the_methods_fields_from_its_schema(client, member, tiny_model, tune):
    client.force_login(member)
    body = client.get(f"/jobs/new/merge/?method=ties&models={tune.pk}").content.decode()
    assert 'name="density"' in body and "Share of each model&#x27;s changes to keep" in body
    assert f'value="{tune.pk}" id="merge-model-{tune.pk}" checked' in body
    assert f'id="merge-model-{tiny_model.pk}">' in body  # offered, not picked
    advanced = body[body.index("<summary>Advanced settings</summary>") :]
    assert (
        'name="normalize"' in advanced and 'name="scaling"' in advanced and 'name="density"' not in advanced
    )
    assert f'href="/jobs/new/merge/?method=slerp&amp;models={tune.pk}"' in body  # the choice is kept
    slerp = client.get("/jobs/new/merge/?method=slerp").content.decode()
    assert 'name="t"' in slerp and 'name="density"' not in slerp


def test_changing_the_method_with_htmx_renders_the_fragment_only(client, member, tune):
    client.force_login(member)
    response = client.get("/jobs/new/merge/?method=dare_ties", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="merge-page"') and "<html" not in body
    assert 'name="rescale"' in body and 'name="seed"' in body


def test_it_queues_a_ties_merge_with_weights(
    client, member, tiny_model, tune, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/merge/", ties_form(tiny_model, tune))
    job = Job.objects.get(kind="merge")
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.params == {"method": "ties", "params": {"density": 0.3, "normalize": True, "scaling": 1.0}}
    inputs = [(i.role, i.model_id, i.weight) for i in job.inputs.order_by("position")]
    assert inputs == [("base", tiny_model.pk, None), ("model", tune.pk, 0.7), ("model", tiny_model.pk, None)]
    assert job.name == "TIES: tune + tiny-llama"


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"density": "1.5"}, "density", "(0, 1]"),
        ({"models": "one"}, "models", "at least 2"),
        ({"base_model": ""}, "base_model", "required"),
        ({"method": "linear", "normalize": "", "weight_a": "0.2"}, "models", "sum to 1"),
        ({"weight_a": "lots"}, "models", "must be a number"),
    ],
)
def test_an_error_shows_next_to_its_field(client, member, tiny_model, tune, changes, field, words):
    client.force_login(member)
    form = ties_form(tiny_model, tune)
    if changes.pop("models", None):
        form["models"] = [tune.pk]
    if "weight_a" in changes:
        form[f"weight_{tune.pk}"] = changes.pop("weight_a")
    form |= changes
    response = client.post("/jobs/new/merge/", form)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert words in " ".join(errors[field]), errors
    assert "errorlist" in response.content.decode()
    assert not Job.objects.filter(kind="merge").exists()


def test_incompatible_models_are_refused_naming_the_tensor(client, member, team, tiny_model, tune, tmp_path):
    from trainers.tiny import build_tiny_llama

    narrow = ModelAsset.objects.create(
        team=team,
        name="narrow",
        source="local",
        path=str(build_tiny_llama(tmp_path / "narrow", hidden_size=32)),
        task="causal-lm",
    )
    client.force_login(member)
    response = client.post("/jobs/new/merge/", ties_form(tiny_model, tune, models=[tune.pk, narrow.pk]))
    assert "tensor lm_head.weight has shape [512, 32]" in response.context["form"].errors["models"][0]
    assert not Job.objects.filter(kind="merge").exists()


def test_other_teams_models_are_neither_offered_nor_accepted(client, member, other_team, tiny_model, tune):
    theirs = ModelAsset.objects.create(
        team=other_team, name="theirs", source="local", path="/elsewhere", task="causal-lm"
    )
    client.force_login(member)
    page = client.get(f"/jobs/new/merge/?models={theirs.pk}").content.decode()
    assert "theirs" not in page
    response = client.post("/jobs/new/merge/", ties_form(tiny_model, tune, models=[tune.pk, theirs.pk]))
    assert "models" in response.context["form"].errors
    assert not Job.objects.filter(kind="merge").exists()


def test_viewers_see_the_page_but_cannot_merge(client, viewer, tiny_model, tune):
    client.force_login(viewer)
    assert "Start the merge" not in client.get("/jobs/new/merge/").content.decode()
    assert client.post("/jobs/new/merge/", ties_form(tiny_model, tune)).status_code == 403


def test_it_is_reachable_from_the_models_list_and_a_jobs_outputs(client, member, tune):
    client.force_login(member)
    models = client.get("/models/").content.decode()
    assert 'href="/jobs/new/merge/"' in models and f'href="/jobs/new/merge/?models={tune.pk}"' in models
    job_page = client.get(f"/jobs/{tune.produced_by_id}/").content.decode()
    assert f'href="/jobs/new/merge/?models={tune.pk}"' in job_page
    picked = client.get(f"/jobs/new/merge/?job={tune.produced_by_id}").content.decode()
    assert f'value="{tune.pk}" id="merge-model-{tune.pk}" checked' in picked
