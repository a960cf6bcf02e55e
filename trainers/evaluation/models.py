"""Loading the models an evaluation compares: a directory, a directory + LoRA adapter, or a GGUF file.

Everything is loaded on CPU or the one GPU in its stored precision; quantized checkpoints
(torchao) load through transformers' own quantizer and stay quantized in memory.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from trainers.pooled_classifier import is_pooled_classifier, load_pooled_classifier
from trainers.spec import ModelRef, SpecError
from trainers.spec_evaluate import EvaluatedModel

log = logging.getLogger("trainers")

ModelKind = Literal["causal_lm", "classifier"]


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    kind: ModelKind
    label: str  # how the report names it, e.g. "tiny-llama + adapter"


def model_kind(config: dict, where: str) -> ModelKind:
    """What a model directory holds, from the ``architectures`` in its config.json."""
    architectures = config.get("architectures") or []
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "causal_lm"
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "classifier"
    shown = ", ".join(architectures) or "none named"
    raise SpecError(
        f"{where}: Hone evaluates causal language models and sequence classifiers; this model is {shown}"
    )


def read_config(path: Path, where: str) -> dict:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise SpecError(f"{where}: {path} is not a model directory in Hugging Face format (no config.json)")
    return json.loads(config_file.read_text(encoding="utf-8"))


def check_evaluated(ref: EvaluatedModel, where: str) -> ModelKind:
    """Refuse a missing directory, adapter or GGUF file before anything is loaded."""
    path = Path(ref.model.path) if ref.model.path else None
    if path is not None and not path.is_dir():
        raise SpecError(f"{where}.model.path: directory {path} does not exist")
    if ref.adapter_path and not (Path(ref.adapter_path) / "adapter_config.json").is_file():
        raise SpecError(f"{where}.adapter_path: {ref.adapter_path} holds no adapter (no adapter_config.json)")
    if ref.gguf_file:
        if not (path / ref.gguf_file).is_file():
            raise SpecError(f"{where}.gguf_file: {ref.gguf_file} is not in {path}")
        return "causal_lm"
    if path is None:
        return "causal_lm"  # a hub model: its kind is known once loaded
    if is_pooled_classifier(path):  # an encoder (config.json: BertModel) with its head in 2_Dense
        return "classifier"
    return model_kind(read_config(path, f"{where}.model.path"), f"{where}.model")


def quiet_import_torchao() -> None:
    """Import torchao with torch's pytree notices silenced: they are for torchao's developers, and
    would otherwise reach the user as warnings in the job's log."""
    pytree = logging.getLogger("torch.utils._pytree")
    level = pytree.level
    pytree.setLevel(logging.ERROR)
    try:
        import torchao.prototype.safetensors.safetensors_support  # noqa: F401 (what transformers imports)
        import torchao.quantization  # noqa: F401
    except ImportError:
        pass  # without torchao, torchao checkpoints fail to load with transformers' own message
    finally:
        pytree.setLevel(level)


def load_causal_lm(path: Path, *, gguf_file: str | None = None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_import_torchao()  # transformers imports torchao for any model once it is installed
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(path, **extra)
    model = AutoModelForCausalLM.from_pretrained(path, **extra)
    return model.eval(), tokenizer


def load_evaluated(ref: EvaluatedModel, kind: ModelKind) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    source, label = _source(ref.model), ref.model.name
    if ref.gguf_file:
        model, tokenizer = load_causal_lm(Path(source), gguf_file=ref.gguf_file)
        return LoadedModel(model, tokenizer, kind, f"{label} ({ref.gguf_file})")
    auto = AutoModelForCausalLM if kind == "causal_lm" else AutoModelForSequenceClassification
    quiet_import_torchao()
    tokenizer = AutoTokenizer.from_pretrained(source, revision=ref.model.revision)
    if kind != "causal_lm" and is_pooled_classifier(source):  # a head on pooled states
        model = load_pooled_classifier(source)
    else:
        model = auto.from_pretrained(source, revision=ref.model.revision)
    if ref.adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ref.adapter_path)
        if (Path(ref.adapter_path) / "tokenizer_config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(
                ref.adapter_path
            )  # has the chat template it was trained with
        label += " + adapter"
    if torch.cuda.is_available():
        model = model.to("cuda")
    log.info(f"Loaded {label} for evaluation")
    return LoadedModel(model.eval(), tokenizer, kind, label)


def _source(ref: ModelRef) -> str:
    return ref.path or ref.hub_id or ""


def same_vocabulary(a: Any, b: Any) -> bool:
    """Whether two tokenizers split text into the same ids, so their perplexities compare."""
    return a.get_vocab() == b.get_vocab()
