"""The merge page with models whose chat templates differ: refused next to the models, naming the one
that differs, until *Tokenizer from* picks whose the result keeps; the new methods' fields render."""

from __future__ import annotations

import shutil

import pytest

from jobs.models import Job, ModelAsset
from tests.jobs.test_views_merge import ties_form
from tests.jobs.test_views_merge import tune as tune  # noqa: F401 (a fixture)


@pytest.fixture
def templated(team, tiny_model_dir, tmp_path) -> ModelAsset:
    path = tmp_path / "templated"
    shutil.copytree(tiny_model_dir, path)
    (path / "chat_template.jinja").write_text(
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}"
    )
    (path / "tokenizer_config.json").write_text(
        (path / "tokenizer_config.json").read_text().replace('"chat_template"', '"unused_template"')
    )
    return ModelAsset.objects.create(
        team=team, name="templated", source="local", path=str(path), task="causal-lm"
    )


def test_another_chat_template_is_refused_next_to_the_models(client, member, tiny_model, tune, templated):
    client.force_login(member)
    form = ties_form(tiny_model, tune, models=[tune.pk, templated.pk])
    response = client.post("/jobs/new/merge/", form)
    message = response.context["form"].errors["models"][0]
    assert "models[1] 'templated' has another chat template than models[0] 'tune'" in message
    assert not Job.objects.filter(kind="merge").exists()


def test_tokenizer_from_lets_it_through(
    client, member, tiny_model, tune, templated, django_capture_on_commit_callbacks
):
    client.force_login(member)
    form = ties_form(tiny_model, tune, models=[tune.pk, templated.pk], tokenizer_source="1")
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/jobs/new/merge/", form)
    assert Job.objects.get(kind="merge").params["tokenizer_source"] == 1


def test_a_tokenizer_from_that_is_no_position_is_refused_next_to_it(client, member, tiny_model, tune):
    client.force_login(member)
    response = client.post("/jobs/new/merge/", ties_form(tiny_model, tune, tokenizer_source="first"))
    assert "give 'base' or a model's position" in response.context["form"].errors["tokenizer_source"][0]


@pytest.mark.parametrize(
    ("method", "field"),
    [("della", "epsilon"), ("sce", "select_topk"), ("pcb", "pcb_ratio"), ("model_stock", "filter_wise")]
    + [("karcher", "max_iter"), ("nuslerp", "nuslerp_flatten"), ("lora_extract", "rank")],
)
def test_the_new_methods_render_their_fields(client, member, tune, method, field):
    client.force_login(member)
    body = client.get(f"/jobs/new/merge/?method={method}").content.decode()
    assert f'name="{field}"' in body and 'name="tokenizer_source"' in body
