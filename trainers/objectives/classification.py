"""Sequence classification: text + label rows, a classification head on an encoder or a decoder.

Labels are numbered in sorted order; the mapping (``id2label`` / ``label2id``) goes into the
model config, so the saved classifier names its predictions. Evaluation reports loss, accuracy,
macro-F1 and a confusion matrix, and the predictions for a few held-out rows as samples.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EvalPrediction,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from trainers import baseline, methods, train
from trainers.callbacks import EventsCallback, RunInfo
from trainers.data import DataError
from trainers.events import EventEmitter
from trainers.objectives.base import Built, Recipe
from trainers.pooled_classifier import PROBE_SCALE, PooledClassifier, head_pooling, saved_head
from trainers.pooling import declared_pooling
from trainers.spec import ModelRef, TrainSpec

log = logging.getLogger("trainers")

SAMPLE_ROWS = 4  # held-out rows whose predictions are shown after each evaluation
METRICS = {"accuracy": "accuracy", "macro_f1": "macro_f1"}


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    """Label ids in sorted label order; each example is the tokenized text plus its label id."""
    labels = label_names(train_rows)
    eval_rows = known_labels_only(eval_rows, labels)
    pooling = head_pooling(spec.base_model.path, spec.method)
    tokenizer, model, device = load_classifier(spec.base_model, labels, methods.load_options(spec), pooling)
    max_length = spec.training.max_seq_length
    train_set = encode(tokenizer, train_rows, labels, max_length)
    # Evaluation reads the rows in order: by length, each batch pads to little more than its rows.
    eval_set = sorted(encode(tokenizer, eval_rows, labels, max_length), key=lambda e: len(e["input_ids"]))
    # The reference before training (a resumed run reported it when it started).
    rows = (train_rows, eval_rows)
    frozen = None if spec.resume_from else frozen_baseline(model, tokenizer, rows, labels, spec)
    probe = frozen.pop("head") if frozen else None
    trained = saved_head(spec.base_model.path, labels) if isinstance(model, PooledClassifier) else None
    if trained is not None and not spec.resume_from:  # continuing a Hone classifier of the same labels
        model.start_from_probe(*trained)
        log.info("Continuing from the base's own trained head (same labels), not a new probe")
    elif probe is not None and isinstance(model, PooledClassifier):
        model.start_from_probe(*probe, scale=PROBE_SCALE)  # same pooled embedding: starts as the baseline
    collator = DataCollatorWithPadding(tokenizer)
    return Built(
        tokenizer, model, device, train_set, eval_set,
        (len(train_rows), len(eval_rows)),
        collator=collator,
        first_batches=train.first_batches(train_set, collator, spec.training.batch_size),
        extra={"labels": labels, "sample_rows": eval_rows[:SAMPLE_ROWS], "max_length": max_length,
               "baseline": frozen},
    )


def make_callback(emitter: EventEmitter, built: Built, info: RunInfo) -> ClassifierCallback:
    extra = built.extra
    return ClassifierCallback(
        emitter, built.tokenizer, info, extra["labels"], extra["sample_rows"], extra["max_length"],
        baseline=extra["baseline"],
    )


def make_trainer(
    spec: TrainSpec, built: Built, prepared: methods.Prepared, args: Any, callback: ClassifierCallback
) -> Any:
    args.label_names = ["labels"]  # a peft wrapper hides the signature the Trainer looks for them in
    args.eval_on_start = False  # the frozen baseline is the before-training reference
    return train.hf_trainer(
        spec, built, prepared, args, callback, compute_metrics=callback.compute_metrics,
        compute_loss_func=balanced_loss(built.train_set, len(callback.labels)),
    )


def label_names(rows: list[dict]) -> list[str]:
    """The classes, as text, in a stable order: numerically if every label is a number."""
    found = {row["label"] for row in rows}
    ordered = sorted(found) if all(isinstance(v, int) for v in found) else sorted(found, key=str)
    names = list(dict.fromkeys(str(v) for v in ordered))
    if len(names) < 2:
        raise DataError(
            f"every training row has the label {names[0]!r}; a classifier needs at least 2 different labels",
            file="dataset",
        )
    return names


def known_labels_only(rows: list[dict], labels: list[str]) -> list[dict]:
    """Evaluation rows whose label the model can predict; a label never seen in training is skipped."""
    unseen = sorted({str(row["label"]) for row in rows} - set(labels))
    if unseen:
        log.warning(f"Evaluation rows with labels not in the training data are skipped: {', '.join(unseen)}")
    kept = [row for row in rows if str(row["label"]) in labels]
    if not kept:
        raise DataError("no evaluation row has a label that occurs in the training rows", file="dataset")
    return kept


def load_classifier(ref: ModelRef, labels: list[str], options: dict,
                    pooling: str | None = None) -> tuple[Any, Any, str]:
    """The base model with a new head of ``len(labels)`` outputs, and its tokenizer; ``options``: the
    method's extra ``from_pretrained`` arguments (QLoRA's 4-bit quantization); ``pooling``: the head
    reads the encoder's pooled states (trainers/pooled_classifier.py) instead of transformers' head."""
    device, dtype = train.training_device()
    source = ref.path or ref.hub_id
    if ref.path and not (Path(ref.path) / "config.json").is_file():
        raise train.ModelError(f"base_model.path: {ref.path} is not a model directory in Hugging Face format")
    id2label = dict(enumerate(labels))
    names = {"num_labels": len(labels), "id2label": id2label, "label2id": {n: i for i, n in id2label.items()}}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=ref.revision)
        if pooling:
            encoder = AutoModel.from_pretrained(source, revision=ref.revision, dtype=dtype, **names,
                                                **options)
            model = PooledClassifier(encoder, len(labels), pooling)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                source, revision=ref.revision, dtype=dtype, ignore_mismatched_sizes=True, **names, **options,
            )
    except (OSError, ValueError, KeyError) as exc:
        message = f"base model {ref.name} ({source}) could not be loaded for classification: {exc}"
        raise train.ModelError(message) from exc
    if tokenizer.pad_token_id is None:  # decoders: the head reads the last non-padding token
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    head = f"a {pooling}-pooled" if pooling else "a"
    log.info(f"Loaded {ref.name} ({source}) on {device} with {head} {len(labels)}-label classification head")
    return tokenizer, model, device


def encode(tokenizer: Any, rows: list[dict], labels: list[str], max_length: int) -> list[dict]:
    index = {name: i for i, name in enumerate(labels)}
    return [
        {**tokenizer(row["text"], truncation=True, max_length=max_length), "labels": index[str(row["label"])]}
        for row in rows
    ]


def frozen_baseline(model: Any, tokenizer: Any, rows: tuple[list[dict], list[dict]], labels: list[str],
                    spec: TrainSpec) -> dict:
    """Frozen embeddings of the base model + logistic regression (trainers/baseline.py), scored on the
    evaluation rows. Pooling: the one the checkpoint was trained with (mean for sentence-transformers)."""
    pooling = declared_pooling(spec.base_model.path) or "mean"
    index = {name: i for i, name in enumerate(labels)}
    train_rows, eval_rows = rows
    train_xy = ([r["text"] for r in train_rows], [index[str(r["label"])] for r in train_rows])
    logits, head = baseline.frozen_baseline(model.base_model, tokenizer, train_xy,
                                            [r["text"] for r in eval_rows], len(labels), pooling,
                                            spec.training.max_seq_length)
    found = classification_metrics(logits, np.array([index[str(r["label"])] for r in eval_rows]), len(labels))
    return found | {"pooling": pooling, "head": head}


def balanced_loss(train_set: list[dict], n_labels: int) -> Any:
    """Cross-entropy with each class weighted n / (k · its count) (scikit-learn's "balanced"): a rare
    class counts as much as a common one, which is what macro-F1 measures (docs/presets.md: +17
    macro-F1 on an imbalanced task). Even classes get weights of about 1, the plain loss."""
    counts = np.bincount([e["labels"] for e in train_set], minlength=n_labels).clip(min=1)
    weight = torch.tensor(counts.sum() / (n_labels * counts), dtype=torch.float32)  # (n_labels,)

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]  # (batch, n_labels)
        per_row = torch.nn.functional.cross_entropy(logits.float(), labels, reduction="none")
        weighted = (per_row * weight.to(logits.device)[labels]).sum()
        # over the rows of every accumulated batch, as the Trainer expects of a compute_loss_func
        return weighted / (num_items_in_batch if num_items_in_batch is not None else len(labels))

    return loss


def classification_metrics(logits: np.ndarray, label_ids: np.ndarray, n_labels: int) -> dict:
    """Accuracy, macro-F1 (classes absent from both truth and prediction left out), the confusion
    matrix (rows: true label, columns: predicted) and per-class precision and recall (None for a
    class never predicted, or absent from the truth)."""
    predicted = logits.argmax(axis=-1)  # (N,)
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (label_ids, predicted), 1)
    true_pos = np.diag(matrix).astype(float)
    support, predicted_count = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support + predicted_count) > 0
    f1 = 2 * true_pos[present] / (support[present] + predicted_count[present])
    return {
        "accuracy": float(true_pos.sum() / max(matrix.sum(), 1)),
        "macro_f1": float(f1.mean()) if present.any() else 0.0,
        "confusion_matrix": matrix.tolist(),
        "precision": [_share(tp, n) for tp, n in zip(true_pos, predicted_count, strict=True)],
        "recall": [_share(tp, n) for tp, n in zip(true_pos, support, strict=True)],
    }


def _share(part: float, whole: int) -> float | None:
    return round(float(part / whole), 4) if whole else None


class ClassifierCallback(EventsCallback):
    """Also reports the frozen baseline before training, the confusion matrix with per-class precision
    and recall after each evaluation, and the predictions on a few held-out rows."""

    def __init__(self, emitter: EventEmitter, tokenizer: Any, info: RunInfo, labels: list[str],
                 sample_rows: list[dict], max_length: int, baseline: dict | None = None) -> None:
        super().__init__(emitter, tokenizer, info, None, metrics=METRICS)  # None: nothing to generate
        self.labels, self.sample_rows, self.max_length = labels, sample_rows, max_length
        self.baseline = baseline
        self.confusion: dict | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kw: Any):
        super().on_train_begin(args, state, control, **kw)
        found, self.baseline = self.baseline, None
        if found is None:
            return
        for name in ("accuracy", "macro_f1"):  # baseline/accuracy, baseline/macro_f1 at step 0
            self.emitter.metric(name, step=0, value=found[name], split="baseline")
        self.emitter.emit(
            "log", level="info", baseline=True, labels=self.labels, precision=found["precision"],
            recall=found["recall"], confusion_matrix=found["confusion_matrix"],
            message=f"Frozen baseline ({found['pooling']}-pooled embeddings + logistic regression): "
            f"accuracy {found['accuracy']:.3f}, macro-F1 {found['macro_f1']:.3f}",
        )

    def compute_metrics(self, prediction: EvalPrediction) -> dict:
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits  # (N, n_labels)
        found = classification_metrics(np.asarray(logits), np.asarray(prediction.label_ids), len(self.labels))
        # not scalars: reported in on_evaluate
        self.confusion = {key: found.pop(key) for key in ("confusion_matrix", "precision", "recall")}
        return found

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any):
        control = super().on_step_end(args, state, control, **kw)
        if state.global_step >= state.max_steps and not self.stop_requested:
            control.should_evaluate = True  # the final model, also where eval_steps does not divide
        return control

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict | None = None, model: Any = None, **kw: Any):
        super().on_evaluate(args, state, control, metrics=metrics, model=model, **kw)
        if self.confusion is not None:
            matrix = self.confusion["confusion_matrix"]
            self.emitter.emit(
                "log", level="info", labels=self.labels, **self.confusion,
                message=f"Confusion matrix at step {state.global_step} (rows: true, columns: predicted; "
                f"labels {', '.join(self.labels)}): {json.dumps(matrix)}",
            )
        if model is not None:
            for row, label in zip(self.sample_rows, predict(model, self.tokenizer, self.sample_rows,
                                                            self.labels, self.max_length), strict=True):
                self.emitter.sample(step=state.global_step, prompt=row["text"], output=label,
                                    expected=str(row["label"]))


@torch.no_grad()
def predict(model: Any, tokenizer: Any, rows: list[dict], labels: list[str], max_length: int) -> list[str]:
    if not rows:
        return []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch = tokenizer([row["text"] for row in rows], truncation=True, max_length=max_length,
                      padding=True, return_tensors="pt").to(device)
    try:
        logits = model(**batch).logits  # (N, n_labels)
    finally:
        model.train(was_training)
    return [labels[i] for i in logits.argmax(dim=-1).tolist()]


def save_classifier(
    spec: TrainSpec, built: Built, prepared: methods.Prepared, callback: ClassifierCallback
) -> None:
    """The classifier as transformers loads it (config with id2label / label2id) and, for adapter
    methods, also the adapter (with the head, for peft) and labels.json; one artifact event each."""
    from peft import PeftModel

    output_dir, labels, tokenizer = Path(spec.output_dir).resolve(), callback.labels, built.tokenizer
    model = prepared.model
    if isinstance(model, PeftModel):
        mapping = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
        adapter_dir = train.save_adapter(model, tokenizer, output_dir / "adapter", **prepared.save_kwargs)
        (adapter_dir / "labels.json").write_text(json.dumps(mapping, indent=1), encoding="utf-8")
        train.write_model_card(adapter_dir, spec, *built.rows, callback)
        train.emit_artifact(callback.emitter, adapter_dir, "adapter")
        model = model.merge_and_unload()  # prompt-learning methods keep their wrapper: not mergeable
    if isinstance(model, PeftModel):
        return
    extra = {"max_seq_length": spec.training.max_seq_length} if isinstance(model, PooledClassifier) else {}
    model_dir = train.save_adapter(model, tokenizer, output_dir / "model", **extra)
    write_classifier_card(model_dir, spec, built.rows, callback, labels, isinstance(model, PooledClassifier))
    train.emit_artifact(callback.emitter, model_dir, "model")


def write_classifier_card(
    model_dir: Path, spec: TrainSpec, rows: tuple[int, int], callback: ClassifierCallback, labels: list[str],
    pooled: bool = False,
) -> None:
    train.write_model_card(model_dir, spec, *rows, callback)
    card = (model_dir / "README.md").read_text(encoding="utf-8").splitlines()
    card[0] = f"# Classifier fine-tuned from {spec.base_model.name}"
    card[-1] = (
        f"Labels: {', '.join(labels)}. Final eval accuracy: {callback.last_eval.get('accuracy')}, "
        f"macro-F1: {callback.last_eval.get('macro_f1')}.\n\n"
        + (POOLED_LOADING if pooled else
           "Load with `transformers.AutoModelForSequenceClassification.from_pretrained(this_directory)`.")
    )
    (model_dir / "README.md").write_text("\n".join(card) + "\n", encoding="utf-8")


POOLED_LOADING = (
    "A sentence-transformers model whose last module is the classification head: "
    "`sentence_transformers.SentenceTransformer(this_directory).encode(texts)` returns one logit per label "
    "(label names: `id2label` in config.json). With transformers alone: `AutoModel` on this directory, "
    "the pooling named in `1_Pooling/config.json` over the token states (padding left out), then the "
    "linear layer in `2_Dense/model.safetensors` (`linear.weight`, `linear.bias`)."
)


RECIPE = Recipe(
    build=build, trainer=make_trainer, save=save_classifier, callback=make_callback
)
