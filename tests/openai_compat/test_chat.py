"""``chat/completions`` and ``completions`` through the official client, whole and streamed, from the
tiny model loaded in the web process; sampling options and their refusals."""

from __future__ import annotations

import openai
import pytest

from api.openai_compat import ids
from jobs.playground import generation

HELLO = [{"role": "user", "content": "Reverse the word. apple"}]


@pytest.fixture
def model_id(tiny_model) -> str:
    return ids.model_id(tiny_model)


def test_chat_whole_and_streamed_give_the_same_greedy_text(client, model_id) -> None:
    whole = client.chat.completions.create(model=model_id, messages=HELLO, max_tokens=12, temperature=0)
    choice = whole.choices[0]
    assert whole.object == "chat.completion" and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length") and choice.message.content
    assert whole.usage.prompt_tokens > 0 and 0 < whole.usage.completion_tokens <= 12
    stream = client.chat.completions.create(
        model=model_id, messages=HELLO, max_tokens=12, temperature=0, stream=True
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == choice.message.content
    assert chunks[-1].choices[0].finish_reason == choice.finish_reason
    with_usage = list(
        client.chat.completions.create(
            model=model_id,
            messages=HELLO,
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage == whole.usage


def test_stop_n_and_seed(client, model_id) -> None:
    greedy = client.chat.completions.create(model=model_id, messages=HELLO, max_tokens=16, temperature=0)
    text = greedy.choices[0].message.content
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    cut = client.chat.completions.create(
        model=model_id, messages=HELLO, max_tokens=16, temperature=0, stop=[stop]
    )
    assert cut.choices[0].message.content == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"
    sampled = [
        client.chat.completions.create(
            model=model_id, messages=HELLO, max_tokens=10, temperature=1.5, top_p=0.9, n=2, seed=3
        )
        for _ in range(2)
    ]
    assert [c.message.content for c in sampled[0].choices] == [c.message.content for c in sampled[1].choices]
    assert len(sampled[0].choices) == 2 and [c.index for c in sampled[0].choices] == [0, 1]


def test_text_completions_whole_and_streamed(client, model_id) -> None:
    whole = client.completions.create(model=model_id, prompt="apple river", max_tokens=8, temperature=0)
    assert whole.object == "text_completion" and whole.choices[0].text
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model=model_id, prompt="apple river", max_tokens=8, temperature=0, stream=True
        )
    )
    assert streamed == whole.choices[0].text


# (fields, the param the 400 names): one test, one served model, for all.
BAD_CHATS = [
    ({"temperature": 5}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"n": 100}, "n"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages[0].content",
    ),
]


def test_bad_chat_bodies_are_400s_naming_the_field(client, model_id) -> None:
    named = {}
    for fields, param in BAD_CHATS:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(**({"model": model_id, "messages": HELLO} | fields))
        named[param] = caught.value.body["param"]
    assert named == {param: param for _fields, param in BAD_CHATS}


def test_unknown_and_other_teams_models_are_not_found(client, outsider_client, team, tiny_model) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-5", messages=HELLO)
    from jobs.models import ModelAsset

    mine = ModelAsset.objects.create(
        team=team, name="ours", source="local", path=tiny_model.path, task="causal-lm"
    )
    with pytest.raises(openai.NotFoundError):
        outsider_client.chat.completions.create(model=ids.model_id(mine), messages=HELLO)


def test_viewers_may_chat(viewer_client, model_id) -> None:
    reply = viewer_client.chat.completions.create(model=model_id, messages=HELLO, max_tokens=4, temperature=0)
    assert reply.choices[0].message.content is not None


def test_the_model_cache_keeps_within_its_memory_limit(settings, tiny_model_dir) -> None:
    from jobs.models import ModelAsset

    def model(pk: int) -> ModelAsset:  # unsaved: the cache reads only the model's fields
        return ModelAsset(pk=pk, name=f"m{pk}", source="builtin", path=str(tiny_model_dir), task="causal-lm")

    generation._cache.clear()
    first = generation.load(model(1))
    settings.HONE_SERVE_CACHE_MB = max(1, (first.bytes * 3 // 2) // (1024 * 1024))
    generation.load(model(2))
    over = 2 * first.bytes > settings.HONE_SERVE_CACHE_MB * 1024 * 1024
    assert len(generation._cache) == (1 if over else 2)
    assert generation.cached(model(2))  # the newest stays
    settings.HONE_SERVE_CACHE_MB = 10_000
    generation.load(model(3))
    assert len(generation._cache) == generation.CACHE_SIZE  # the count bound holds too
    generation._cache.clear()
