"""Predicting labels with a sequence classifier, in the dataset's own label names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from trainers.spec import SpecError

BATCH_SIZE = 16


def label_names(config: Any, labels: Sequence[str | int]) -> dict[int, str]:
    """Class index → the name the dataset uses for it.

    Datasets name classes by the model's ``id2label`` names ("positive") or by index (0, 1, ...).
    """
    id2label = {int(i): str(name) for i, name in config.id2label.items()}
    wanted = {str(label) for label in labels}
    if wanted <= set(id2label.values()):
        return id2label
    if all(w.isdigit() and int(w) < len(id2label) for w in wanted):
        return {i: str(i) for i in id2label}
    unknown = ", ".join(sorted(wanted - set(id2label.values()))[:10])
    known = ", ".join(id2label.values())
    raise SpecError(
        f"dataset: labels ({unknown}) are not among the model's classes ({known}) nor class numbers; "
        "use the same label names the classifier was trained with"
    )


@torch.no_grad()
def predict_labels(
    model: Any, tokenizer: Any, texts: Sequence[str], names: dict[int, str], *, max_length: int = 512
) -> list[str]:
    device = next(model.parameters()).device
    predictions: list[str] = []
    for start in range(0, len(texts), BATCH_SIZE):
        batch = tokenizer(
            list(texts[start : start + BATCH_SIZE]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        logits = model(**batch).logits  # [batch, classes]
        predictions += [names[int(i)] for i in logits.argmax(dim=-1)]
    return predictions
