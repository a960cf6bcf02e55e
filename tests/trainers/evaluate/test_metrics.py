"""Perplexity and classification metrics against hand computations."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.trainers.evaluate.conftest import LABELLED
from trainers.evaluation.classify import label_names, predict_labels
from trainers.evaluation.metrics import accuracy, macro_f1, perplexity, score_ids, window_spans
from trainers.spec import SpecError


def hand_nll(model, ids: list[int]) -> tuple[float, int]:
    """Σ -log p(token | all tokens before it) over tokens 1..n-1, one softmax at a time."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    total = 0.0
    for position in range(1, len(ids)):
        probabilities = torch.softmax(logits[position - 1].double(), dim=-1)
        total -= math.log(probabilities[ids[position]].item())
    return total, len(ids) - 1


def test_perplexity_is_the_token_weighted_mean_over_texts(tiny_model_dir: Path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    texts = ["The apple is near the river.", "Reverse the word. candle"]
    totals = [hand_nll(model, tiny_tokenizer(text)["input_ids"]) for text in texts]
    expected = math.exp(sum(nll for nll, _ in totals) / sum(n for _, n in totals))
    assert perplexity(tiny_model_dir, texts) == pytest.approx(expected, rel=1e-5)
    # token-weighted, not the mean of per-text perplexities
    per_text = sum(math.exp(nll / n) for nll, n in totals) / len(totals)
    assert expected != pytest.approx(per_text, rel=1e-6)


def test_truncated_windows_score_each_window_on_its_own(tiny_model_dir: Path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tiny_tokenizer("The apple is near the river. The stone is near the cloud. The tiger")["input_ids"]
    assert len(ids) > 16
    pieces = [hand_nll(model, ids[start : start + 8]) for start in range(0, len(ids), 8)]
    total = score_ids(model, ids, max_length=8, stride=8)
    assert total.tokens == sum(n for _, n in pieces if n > 0)
    assert total.nll == pytest.approx(sum(nll for nll, _ in pieces), rel=1e-5)


def test_sliding_windows_with_full_context_equal_one_pass(tiny_model_dir: Path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tiny_tokenizer("The garden is near the window. The lemon is near the mirror.")["input_ids"]
    whole = score_ids(model, ids, max_length=len(ids))
    assert whole.nll == pytest.approx(hand_nll(model, ids)[0], rel=1e-5)
    sliding = score_ids(model, ids, max_length=12, stride=4)
    assert sliding.tokens == len(ids) - 1  # every token but the first, once


@pytest.mark.parametrize(("length", "max_length", "stride"), [(10, 4, 2), (30, 8, 3), (9, 4, 4), (5, 16, 8)])
def test_windows_score_every_token_at_most_once(length: int, max_length: int, stride: int):
    scored = [t for _, end, first in window_spans(length, max_length, stride) for t in range(first, end)]
    assert len(scored) == len(set(scored))
    assert all(end - begin <= max_length for begin, end, _ in window_spans(length, max_length, stride))
    if stride < max_length:
        assert sorted(scored) == list(range(1, length))


def test_accuracy_and_macro_f1_by_hand():
    truth = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "c", "c"]
    assert accuracy(predicted, truth) == pytest.approx(4 / 6)
    # a: P 2/2 R 2/3 F1 0.8 · b: P 1/2 R 1/2 F1 0.5 · c: P 1/2 R 1/1 F1 2/3
    assert macro_f1(predicted, truth) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # a class only ever predicted counts, with F1 0
    assert macro_f1(["a", "z"], ["a", "a"]) == pytest.approx((2 / 3 + 0) / 2)
    with pytest.raises(ValueError, match="as many predictions as labels"):
        accuracy(["a"], [])


def test_minilm_predictions_and_metrics_match_a_forward_pass_by_hand(classifier_dirs: tuple[Path, Path]):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = classifier_dirs[0]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts, truth = [t for t, _ in LABELLED], [label for _, label in LABELLED]
    by_hand = []
    with torch.no_grad():
        for text in texts:  # one at a time, no padding: independent of the batched path
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
            by_hand.append(model.config.id2label[int(logits.argmax())])
    predicted = predict_labels(model, tokenizer, texts, label_names(model.config, truth))
    assert predicted == by_hand
    assert len(set(predicted)) > 1  # the fitted head does tell texts apart
    correct = sum(p == t for p, t in zip(by_hand, truth, strict=True))
    assert accuracy(predicted, truth) == correct / len(truth)
    f1s = []
    for cls in sorted(set(truth) | set(by_hand)):
        tp = sum(p == t == cls for p, t in zip(by_hand, truth, strict=True))
        fp = sum(p == cls != t for p, t in zip(by_hand, truth, strict=True))
        fn = sum(t == cls != p for p, t in zip(by_hand, truth, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    assert macro_f1(predicted, truth) == pytest.approx(sum(f1s) / len(f1s))


def test_labels_may_be_class_numbers_but_not_unknown_names(classifier_dirs: tuple[Path, Path]):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(classifier_dirs[0])
    assert label_names(config, [0, 2, "1"]) == {0: "0", 1: "1", 2: "2"}
    with pytest.raises(SpecError, match=r"labels \(great\) are not among the model's classes"):
        label_names(config, ["positive", "great"])
