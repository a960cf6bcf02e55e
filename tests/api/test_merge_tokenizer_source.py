"""A merge of models whose chat templates differ: refused at POST /api/v1/jobs naming the input, before
anything is queued, unless tokenizer_source picks whose tokenizer the result keeps."""

from __future__ import annotations

import shutil

import pytest

from jobs.lifecycle import specs
from jobs.models import Job, ModelAsset
from tests.api.helpers import fields, problem


@pytest.fixture
def templated(team, tiny_model_dir, tmp_path) -> ModelAsset:
    """tiny_model's files with another chat template."""
    path = tmp_path / "templated"
    shutil.copytree(tiny_model_dir, path)
    (path / "chat_template.jinja").write_text(
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}"
    )
    (path / "tokenizer_config.json").write_text(
        (path / "tokenizer_config.json").read_text().replace('"chat_template"', '"unused_template"')
    )
    return ModelAsset.objects.create(
        team=team,
        name="templated",
        source="local",
        path=str(path),
        task="causal-lm",
        architecture="LlamaForCausalLM",
    )


def body(tiny_model, other, **changes) -> dict:
    return {
        "kind": "merge",
        "method": "linear",
        "models": [{"model": tiny_model.pk}, {"model": other.pk}],
        **changes,
    }


def test_another_chat_template_is_a_400_naming_the_model(as_member, tiny_model, templated):
    response = as_member.post("/api/v1/jobs", body(tiny_model, templated), format="json")
    message = fields(problem(response, 400))["models[1].model"]
    assert "models[1] 'templated' has another chat template than models[0] 'tiny-llama'" in message
    assert "tokenizer_source" in message
    assert not Job.objects.exists()


def test_tokenizer_source_lets_it_through_into_the_spec(
    as_member, tiny_model, templated, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = as_member.post(
            "/api/v1/jobs", body(tiny_model, templated, tokenizer_source=1), format="json"
        )
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.params["tokenizer_source"] == 1
    assert specs.build_spec(job, 1, None)["tokenizer_source"] == 1


@pytest.mark.parametrize(("given", "words"), [("first", 'give "base"'), (7, "not a model's index")])
def test_a_tokenizer_source_that_names_no_input_is_a_400(as_member, tiny_model, templated, given, words):
    response = as_member.post(
        "/api/v1/jobs", body(tiny_model, templated, tokenizer_source=given), format="json"
    )
    assert words in fields(problem(response, 400))["tokenizer_source"]
    assert not Job.objects.exists()
