"""A classifier that pools as its encoder was trained: the encoder, the checkpoint's pooling, a linear head.

A sentence-transformers checkpoint (all-MiniLM-L6-v2 and the like) was trained on pooled token
states (``trainers/pooling.py: declared_pooling``), not on the [CLS] pooler that
``AutoModelForSequenceClassification`` puts under its head; a head on the pooled embedding learns
better from few rows (docs/presets.md). Its head starts as the frozen baseline's logistic
regression (linear probing then fine-tuning, Kumar et al. 2022, "Fine-Tuning can Distort
Pretrained Features"), so fine-tuning starts from the baseline's predictions.

Saved as a sentence-transformers model whose last module is the head, so it loads outside Hone:
``SentenceTransformer(path).encode(texts)`` returns the logits (one column per label; names in
``config.json``'s ``id2label``), and with plain transformers: ``AutoModel`` + the pooling in
``1_Pooling/config.json`` + the linear layer in ``2_Dense/model.safetensors`` (docs/presets.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers.modeling_outputs import SequenceClassifierOutput

from trainers.pooling import POOLING_MODULE, declared_pooling, pool

# The probe's logits times this at the start: the same predictions as the baseline, less sure of them,
# so the loss still moves the encoder (a full-strength probe left debian-sections 6 points of
# macro-F1 lower; 0.2 was best on all three tasks of bench/preset_quality.py: docs/presets.md).
PROBE_SCALE = 0.2
HEAD_DIR = "2_Dense"
HEAD_MODULE = "sentence_transformers.models.Dense"
POOLING_KEYS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token",
                "max": "pooling_mode_max_tokens"}


class PooledClassifier(torch.nn.Module):
    """logits = head(pool(encoder(text))); the Trainer's interface of a transformers classifier
    (``config`` with ``id2label``, ``base_model``, ``.logits`` output, ``save_pretrained``)."""

    def __init__(self, encoder: Any, n_labels: int, pooling: str) -> None:
        super().__init__()
        self.encoder, self.pooling = encoder, pooling
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

    @property
    def config(self) -> Any:
        return self.encoder.config

    @property
    def base_model(self) -> Any:
        return self.encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kw: Any) -> SequenceClassifierOutput:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return SequenceClassifierOutput(logits=self.head(pool(hidden, attention_mask, self.pooling)))

    def start_from_probe(self, weight: torch.Tensor, bias: torch.Tensor, scale: float = 1.0) -> None:
        """The head becomes the frozen baseline's logistic regression (on the raw pooled embedding),
        its logits times ``scale`` (> 0: the same predictions)."""
        with torch.no_grad():
            self.head.weight.copy_(weight.to(self.head.weight) * scale)
            self.head.bias.copy_(bias.to(self.head.bias) * scale)

    def save_pretrained(self, directory: str | Path, max_seq_length: int = 512, **_: Any) -> None:
        """The sentence-transformers layout: the encoder at the top, then pooling, then the head."""
        root = Path(directory)
        self.encoder.save_pretrained(root, safe_serialization=True)
        (root / "1_Pooling").mkdir(parents=True, exist_ok=True)
        hidden, n_labels = self.head.in_features, self.head.out_features
        pooling = {"word_embedding_dimension": hidden} | {key: mode == self.pooling
                                                           for mode, key in POOLING_KEYS.items()}
        write_json(root / "1_Pooling" / "config.json", pooling)
        (root / HEAD_DIR).mkdir(exist_ok=True)
        write_json(root / HEAD_DIR / "config.json", {
            "in_features": hidden, "out_features": n_labels, "bias": True,
            "activation_function": "torch.nn.modules.linear.Identity"})
        save_file({"linear.weight": self.head.weight.detach().float().contiguous(),
                   "linear.bias": self.head.bias.detach().float().contiguous()},
                  str(root / HEAD_DIR / "model.safetensors"))
        write_json(root / "sentence_bert_config.json",
                   {"max_seq_length": max_seq_length, "do_lower_case": False})
        write_json(root / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING_MODULE},
            {"idx": 2, "name": "2", "path": HEAD_DIR, "type": HEAD_MODULE},
        ])


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def head_pooling(base_model_dir: str | None, method: str) -> str | None:
    """The pooling to classify with when the base is a sentence-transformers checkpoint trained whole
    ("full"); None: transformers' own ``...ForSequenceClassification`` head (adapters keep peft's
    classifier set-up, and plain transformers checkpoints declare no pooling)."""
    return declared_pooling(base_model_dir) if method == "full" else None


def is_pooled_classifier(directory: str | Path) -> bool:
    """Whether a saved model is this module's layout (a sentence-transformers model ending in a head)."""
    try:
        modules = json.loads((Path(directory) / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(modules, list) and any(isinstance(m, dict) and m.get("path") == HEAD_DIR
                                             for m in modules)


def saved_head(directory: str | Path | None, labels: list[str]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The head of a pooled classifier saved in ``directory`` when it predicts exactly ``labels`` in
    that order (continuing a Hone classifier: its trained head, not a new probe); else None."""
    if directory is None or not is_pooled_classifier(directory):
        return None
    try:
        config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
        head = load_file(str(Path(directory) / HEAD_DIR / "model.safetensors"))
    except (OSError, ValueError):
        return None
    names = config.get("id2label") or {}
    saved = [str(names.get(str(i), "")) for i in range(len(names))]
    if saved != labels or head["linear.weight"].shape[0] != len(labels):
        return None
    return head["linear.weight"], head["linear.bias"]


def load_pooled_classifier(directory: str | Path, dtype: torch.dtype = torch.float32) -> PooledClassifier:
    """A saved classifier back as a module (evaluation jobs, the playground), predicting as it did."""
    from transformers import AutoModel

    root = Path(directory)
    pooling = declared_pooling(root)
    if pooling is None:
        raise ValueError(f"{root}: 1_Pooling/config.json names no pooling mode")
    head = load_file(str(root / HEAD_DIR / "model.safetensors"))
    n_labels = head["linear.weight"].shape[0]
    model = PooledClassifier(AutoModel.from_pretrained(root, dtype=dtype), n_labels, pooling)
    model.start_from_probe(head["linear.weight"], head["linear.bias"])
    return model
