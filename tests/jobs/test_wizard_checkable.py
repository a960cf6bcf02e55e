"""The guided set-up's "Solve checkable tasks" goal: a check chosen in plain words becomes the grpo
job's rewards, and before training the base model's answers to a few prompts are scored with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from jobs.data.datasets import create_dataset
from jobs.guided import reward_preview, wizard
from jobs.models import Job, ModelAsset
from tests.conftest import jsonl_bytes
from tests.jobs.test_views_wizard import GUIDED, url
from tests.trainers.test_grpo import first_number_model  # noqa: F401
from trainers.tiny import larger_number_rows

ROWS = larger_number_rows(40, seed=5)


@pytest.fixture
def sums(team, member):
    upload = SimpleUploadedFile("larger.jsonl", jsonl_bytes(ROWS))
    return create_dataset(team=team, user=member, name="larger", upload=upload)


@pytest.fixture
def first_number(db, first_number_model: Path) -> ModelAsset:  # noqa: F811
    """A model that answers with the first number: right exactly where the first is the larger."""
    return ModelAsset.objects.create(name="first-number", source="builtin", path=str(first_number_model),
                                     task="causal-lm", architecture="LlamaForCausalLM")  # fmt: skip


def _text(body: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_goal_page_offers_checkable_tasks_with_checks_in_plain_words(client, member):
    client.force_login(member)
    body = client.get(GUIDED).content.decode()
    assert re.search(r'value="checkable" id="goal-checkable"\s+aria-describedby', body)
    assert "Solve checkable tasks" in body
    assert re.search(r'name="grpo__rewards" value="exact_match" id="check-1" checked', body)
    for value, words in wizard.REWARD_CHOICES:
        assert f'value="{value}"' in body and escape(words) in body


def test_only_the_checkable_goal_keeps_the_check() -> None:
    assert wizard.State.from_query({"goal": "chat", "grpo__rewards": "math"}).advanced == {}
    assert wizard.State.from_query({"goal": "checkable", "grpo__rewards": "math"}).advanced == {
        "grpo__rewards": "math"
    }


def test_the_chosen_check_becomes_the_grpo_jobs_rewards(client, member, tiny_model, sums):
    client.force_login(member)
    choices = {"goal": "checkable", "grpo__rewards": "math, format:0.2", "dataset": sums.pk,
               "model": tiny_model.pk, "preset": "quick", "max_length": 64}  # fmt: skip
    body = client.get(url("review", **choices)).content.decode()
    assert "The check on the base model" in body and "preview=rewards" in body
    response = client.post(url("review"), {**choices, "name": "sums"})
    job = Job.objects.get(name="sums")
    assert response.status_code == 302 and job.objective == "grpo"
    chosen = [(r["name"], r["weight"]) for r in job.params["grpo"]["rewards"]]
    assert chosen == [("math", 1.0), ("format", 0.2)]


def test_the_preview_scores_the_base_models_answers_with_the_check(client, member, first_number, sums):
    client.force_login(member)
    choices = {"goal": "checkable", "grpo__rewards": "exact_match", "dataset": sums.pk,
               "model": first_number.pk, "preset": "quick", "max_length": 64}  # fmt: skip
    body = client.get(url("review", **choices, preview="rewards")).content.decode()
    cells = r"<tr><td>(.*?)</td><td><code>(.*?)</code></td><td>(.*?)</td>\s*<td class=\"num\">([\d.]+)"
    rows = re.findall(cells, body, flags=re.S)
    assert len(rows) == reward_preview.PROMPTS
    for (prompt, answer, expected, reward), row in zip(rows, ROWS, strict=False):
        a, b = (int(x) for x in row["prompt"].removeprefix("Which is larger: ").rstrip("?").split(" or "))
        assert (prompt, expected) == (row["prompt"], row["answer"])
        assert answer.strip() == str(a)  # the model answers with the first number
        assert float(reward) == (1.0 if a > b else 0.0)  # right exactly where the first is the larger
    mean = sum(float(reward) for *_, reward in rows) / len(rows)
    assert 0 < mean < 1 and f"Mean reward {mean:.2f}" in _text(body)  # both kinds among the first rows
    assert not Job.objects.exists()  # a preview trains nothing


def test_a_model_too_big_for_the_web_server_is_refused_with_the_reason(client, member, tiny_model, sums):
    tiny_model.parameter_count = 7_000_000_000
    tiny_model.save(update_fields=["parameter_count"])
    client.force_login(member)
    choices = {"goal": "checkable", "dataset": sums.pk, "model": tiny_model.pk, "max_length": 64}
    body = _text(client.get(url("review", **choices, preview="rewards")).content.decode())
    assert "has 7.0 billion parameters, too many to run in the web server" in body
    assert "before its first step" in body and "Mean reward" not in body
