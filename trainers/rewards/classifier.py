"""A reward model: a classifier the team trained in Hone scores each completion, and the reward is its
probability of the label the user counts as good (0 to 1).

The reward names the classifier by its model id (``params.model``) and the good label by name
(``params.label``). The platform checks both at launch (the team's own or a built-in model, a
classifier with files on the server, a label it knows), records the model as the job's
``reward_model`` input (lineage), and gives the trainer its directory in ``TrainSpec.reward_models``;
a request never names a path. The classifier is loaded once per process and scores completions in
batches. By default it reads the completion alone (a classifier trained on answers); with
``reads: "prompt_and_completion"`` it reads the row's question (the chat's last user turn), a blank
line, then the completion — train such a classifier on texts written the same way.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from trainers.rewards.base import Reward, RewardModels, RewardParams

BATCH_SIZE = 32
MAX_TOKENS = 512  # longer completions are cut here before the classifier reads them


class ClassifierParams(RewardParams):
    model: int = Field(ge=1, description="The id of a classifier trained in Hone (GET /api/v1/models).")
    label: str = Field(
        min_length=1, max_length=200, description="The classifier's label that counts as a good answer."
    )
    reads: Literal["completion", "prompt_and_completion"] = Field(
        "completion",
        description=(
            "What the classifier reads: the answer alone, or the question (the last user turn), a blank "
            "line, then the answer — as the texts it was trained on were written."
        ),
    )


SEPARATOR = "\n\n"  # between the question and the answer when the classifier reads both


class ClassifierError(ValueError):
    pass


def labels_of(directory: str | Path) -> list[str]:
    """The label names a saved classifier predicts, from its config.json (no weights are read)."""
    config_file = Path(directory) / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ClassifierError(f"{directory} holds no readable config.json") from None
    id2label = config.get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    labels: list[str]
    lock: threading.Lock


@functools.lru_cache(maxsize=4)
def load(directory: str) -> Loaded:
    """The classifier in ``directory``, loaded once per process (on the GPU where there is one)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trainers.pooled_classifier import is_pooled_classifier, load_pooled_classifier

    if is_pooled_classifier(directory):  # a head on the pooled embedding (trainers/pooled_classifier.py)
        model = load_pooled_classifier(directory)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(directory, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"
    if torch.cuda.is_available():
        model = model.to("cuda")
    return Loaded(model.eval(), tokenizer, labels_of(directory), threading.Lock())


def probabilities(loaded: Loaded, texts: list[str], label: str) -> list[float]:
    """The classifier's probability of ``label`` for each text, in batches."""
    import torch

    index = loaded.labels.index(label)
    device = next(loaded.model.parameters()).device
    found: list[float] = []
    with loaded.lock, torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            batch = loaded.tokenizer(
                texts[start : start + BATCH_SIZE], padding=True, truncation=True, max_length=MAX_TOKENS,
                return_tensors="pt",
            ).to(device)  # fmt: skip
            logits = loaded.model(**batch).logits.float()
            found += logits.softmax(-1)[:, index].tolist()
    return found


def directory_of(params: ClassifierParams, models: RewardModels) -> str:
    directory = models.get(str(params.model))
    if directory is None:
        raise ClassifierError(
            f"model {params.model} is not among this job's reward models; the platform gives them"
        )
    return directory


def texts_read(completions: list[str], params: ClassifierParams, prompts: list[str] | None) -> list[str]:
    """What the classifier reads for each completion (never empty: a tokenizer needs a token)."""
    answers = [c.strip() or " " for c in completions]
    if params.reads == "completion":
        return answers
    if prompts is None or len(prompts) != len(completions):
        raise ClassifierError("this classifier reads the question too, and the caller gave no questions")
    return [f"{p.strip()}{SEPARATOR}{a}" for p, a in zip(prompts, answers, strict=True)]


def scores(
    completions: list[str],
    answers: list[str],
    params: ClassifierParams,
    models: RewardModels,
    prompts: list[str] | None = None,
) -> list[float]:
    if not completions:
        return []
    loaded = load(directory_of(params, models))
    if params.label not in loaded.labels:
        known = ", ".join(loaded.labels)
        raise ClassifierError(f"label {params.label!r} is not one of the classifier's: {known}")
    return probabilities(loaded, texts_read(completions, params, prompts), params.label)


REWARD = Reward(
    "classifier",
    "A classifier you trained likes the answer (its probability of the label you pick)",
    None,
    ClassifierParams,
    uses_answer=False,
    batch=scores,
    passing=0.5,
    text_params=("model", "label"),
)
