"""The guided "Solve checkable tasks" goal offers the team's classifiers as checks (one per label), the
preview scores the base model's answers with one, and the preview answers the whole chat of a row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils.html import escape

from jobs.guided import reward_preview
from jobs.models import Job, ModelAsset
from jobs.playground import generation
from tests.jobs.test_views_wizard import GUIDED, url
from tests.jobs.test_wizard_checkable import ROWS, first_number, sums  # noqa: F401 (fixtures)
from tests.trainers.test_grpo import first_number_model  # noqa: F401
from tests.trainers.test_reward_classifier import high_digit_classifier  # noqa: F401


@pytest.fixture
def likes_high(team, high_digit_classifier: Path) -> ModelAsset:  # noqa: F811
    return ModelAsset.objects.create(
        team=team, name="likes-high", source=ModelAsset.Source.JOB, task=ModelAsset.Task.CLASSIFICATION,
        path=str(high_digit_classifier), architecture="LlamaForSequenceClassification",
    )  # fmt: skip


def _theirs(other_team, likes_high: ModelAsset) -> ModelAsset:
    """The same classifier, owned by another team."""
    return ModelAsset.objects.create(team=other_team, name="theirs", source="job", path=likes_high.path,
                                     task=ModelAsset.Task.CLASSIFICATION)  # fmt: skip


def test_the_goal_page_offers_the_teams_classifier_by_label(client, member, likes_high, other_team):
    theirs = _theirs(other_team, likes_high)
    client.force_login(member)
    body = client.get(GUIDED).content.decode()
    for label in ("high", "low"):
        assert f'value="classifier={likes_high.pk}/{label}"' in body
        assert escape(f"Your classifier “likes-high” says “{label}”") in body
    assert f"classifier={theirs.pk}/" not in body


def test_the_preview_scores_answers_with_the_classifier(client, member, first_number, sums, likes_high):  # noqa: F811
    client.force_login(member)
    choices = {"goal": "checkable", "grpo__rewards": f"classifier={likes_high.pk}/high", "dataset": sums.pk,
               "model": first_number.pk, "preset": "quick", "max_length": 64}  # fmt: skip
    body = client.get(url("review", **choices, preview="rewards")).content.decode()
    cells = r"<tr><td>(.*?)</td><td><code>(.*?)</code></td><td>(.*?)</td>\s*<td class=\"num\">([\d.]+)"
    rows = re.findall(cells, body, flags=re.S)
    assert len(rows) == reward_preview.PROMPTS
    for _prompt, answer, _expected, reward in rows:  # the classifier likes 5-9, whatever the answer
        assert (float(reward) > 0.5) == (int(answer.strip()) >= 5), (answer, reward)
    assert not Job.objects.exists()


def test_the_chosen_classifier_check_launches_with_its_reward_model_input(
    client, member, tiny_model, sums, likes_high  # noqa: F811
):
    client.force_login(member)
    choices = {"goal": "checkable", "grpo__rewards": f"classifier={likes_high.pk}/high", "dataset": sums.pk,
               "model": tiny_model.pk, "preset": "quick", "max_length": 64}  # fmt: skip
    response = client.post(url("review"), {**choices, "name": "liked"})
    job = Job.objects.get(name="liked")
    assert response.status_code == 302
    assert job.params["grpo"]["rewards"] == [
        {"name": "classifier", "weight": 1.0,
         "params": {"model": likes_high.pk, "label": "high", "reads": "completion"}}  # fmt: skip
    ]
    assert [i.model for i in job.inputs.filter(role="reward_model")] == [likes_high]


def test_the_preview_refuses_a_classifier_the_team_cannot_use(
    client, member, first_number, sums, other_team, likes_high  # noqa: F811
):
    theirs = _theirs(other_team, likes_high)
    client.force_login(member)
    choices = {"goal": "checkable", "grpo__rewards": f"classifier={theirs.pk}/high", "dataset": sums.pk,
               "model": first_number.pk, "max_length": 64}  # fmt: skip
    body = client.get(url("review", **choices, preview="rewards")).content.decode()
    assert f"model {theirs.pk}) was not found" in body and "Mean reward" not in body


def test_the_preview_answers_the_whole_chat(tiny_model) -> None:
    loaded = generation.load(tiny_model)
    chat = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Larger: 3 or 8?"},
            {"role": "assistant", "content": "8"}, {"role": "user", "content": "And 2 or 9?"})  # fmt: skip
    ids = generation.prompt_ids(loaded, generation.Settings(mode="chat", prompt="", messages=chat))
    shown = loaded.tokenizer.decode(ids)
    assert all(turn["content"] in shown for turn in chat)
