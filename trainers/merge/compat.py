"""The compatibility check a merge passes before any work: refuse a bad combination, say what to do.

In order: the kinds of input the method takes, the output location, quantized inputs, then each
model against the reference (the base model if given, else the first full model): architecture,
tied embeddings, vocabulary and tokenizer, then every tensor's name and shape, naming the first
that differs. LoRA adapters are checked against the base they will be folded into.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from trainers.merge.adapters import LoraAdapter
from trainers.merge.inputs import AdapterDir, Input, ModelDir
from trainers.merge.method import MergeMethod
from trainers.merge.stream import TensorInfo
from trainers.spec import SpecError

log = logging.getLogger("trainers")

SAME_BASE = "merge only models fine-tuned from the same base model"
QUANTIZED_SUFFIXES = (
    ".qweight",
    ".qzeros",
    ".scales",
    ".g_idx",
    ".absmax",
    ".quant_map",
    ".SCB",
    ".weight_scale",
    ".weight_scale_inv",
    ".input_scale",
    ".nested_absmax",
    ".quant_state",
)


def check_kinds(method: MergeMethod, models: list[Input], base: Input | None) -> None:
    if isinstance(base, AdapterDir):
        raise SpecError(
            f"{base.label} is a LoRA adapter; base_model must be the full model it was trained from"
        )
    for item in models:
        if method.inputs == "adapters" and isinstance(item, ModelDir):
            raise SpecError(
                f"{item.label} is a full model, but {method.name} takes LoRA adapters; "
                "to merge full models use linear, task_arithmetic, ties or another model method"
            )
        if method.inputs == "models" and isinstance(item, AdapterDir) and base is None:
            raise SpecError(
                f"{item.label} is a LoRA adapter; set base_model to the model it was trained from "
                "(it is folded in as it is read), or fold it first with lora_fold"
            )
    if method.needs_base and base is None:
        raise SpecError(f"{method.name} needs base_model: the model the others were fine-tuned from")


def check_output(out_dir: Path, inputs: list[Input | None]) -> None:
    for item in inputs:
        if item is None:
            continue
        source = item.path.resolve()
        if out_dir == source or source in out_dir.parents:
            raise SpecError(f"output_dir {out_dir} is inside {item.label} ({source}); choose a new directory")


def quantized_reason(model: ModelDir) -> str | None:
    config = model.config.get("quantization_config")
    if config:
        method = config.get("quant_method", "quantized") if isinstance(config, dict) else "quantized"
        return f"its config has a quantization_config ({method})"
    for info in model.weights.tensors.values():
        if info.name.endswith(QUANTIZED_SUFFIXES) or ".quant_state." in info.name:
            return f"it has quantization tensors such as {info.name}"
        if info.name.endswith(".weight") and not info.is_float:
            return f"tensor {info.name} is stored as {info.dtype}"
    return None


def check_not_quantized(models: list[Input | None]) -> None:
    for model in models:
        if isinstance(model, ModelDir) and (reason := quantized_reason(model)):
            raise SpecError(
                f"{model.label} is quantized ({reason}); a merge needs full-precision weights: "
                "merge the original unquantized models, then quantize the result with a quantize job"
            )


def check_against(reference: ModelDir, model: ModelDir) -> None:
    """Everything that must match between two full models, the first mismatch refused."""
    ref, cfg = reference.config, model.config
    if (ref.get("architectures"), ref.get("model_type")) != (cfg.get("architectures"), cfg.get("model_type")):
        raise SpecError(
            f"{model.label} is a {_arch(cfg)} but {reference.label} is a {_arch(ref)}; {SAME_BASE}"
        )
    if bool(ref.get("tie_word_embeddings")) != bool(cfg.get("tie_word_embeddings")):
        raise SpecError(
            f"tensor lm_head.weight: {model.label} ties its output layer to the embeddings "
            f"(tie_word_embeddings={cfg.get('tie_word_embeddings')}) and {reference.label} does not "
            f"(tie_word_embeddings={ref.get('tie_word_embeddings')}); {SAME_BASE}"
        )
    if ref.get("vocab_size") != cfg.get("vocab_size"):
        raise SpecError(
            f"{model.label} has a vocabulary of {cfg.get('vocab_size')} tokens, {reference.label} of "
            f"{ref.get('vocab_size')}; {SAME_BASE} (same tokenizer)"
        )
    check_tokenizers(reference, model)
    check_tensors(reference, model)


def _arch(config: dict) -> str:
    names = config.get("architectures") or ["unknown architecture"]
    return f"{'/'.join(names)} ({config.get('model_type', 'no model_type')})"


def check_tensors(reference: ModelDir, model: ModelDir) -> None:
    theirs = model.weights.tensors
    for name, info in reference.weights.tensors.items():
        other = theirs.get(name)
        if other is None:
            raise SpecError(
                f"tensor {name} is in {reference.label} but missing from {model.label}; {SAME_BASE}"
            )
        if other.shape != info.shape:
            raise SpecError(
                f"tensor {name} has shape {list(other.shape)} in {model.label} but {list(info.shape)} in "
                f"{reference.label}; {SAME_BASE} (same architecture and size)"
            )
        if other.is_float != info.is_float:
            raise SpecError(
                f"tensor {name} is {other.dtype} in {model.label} but {info.dtype} in {reference.label}"
            )
    for name in theirs:
        if name not in reference.weights.tensors:
            raise SpecError(f"tensor {name} is in {model.label} but not in {reference.label}; {SAME_BASE}")


def check_adapter(base: ModelDir, adapter: LoraAdapter, weight: float, alone: bool) -> None:
    """Every tensor the adapter changes exists in the base, with the shape the change has."""
    tensors: dict[str, TensorInfo] = base.weights.tensors
    position = {name: i for i, name in enumerate(tensors)}
    for name in sorted(adapter.targets, key=lambda n: position.get(n, -1)):  # the base's order; unknown first
        target = adapter.targets[name]
        if name not in tensors:
            raise SpecError(
                f"tensor {name}: {adapter.label} changes it but {base.label} has no such tensor; "
                "set base_model to the model this adapter was trained from"
            )
        if adapter.delta_shape(target) != tensors[name].shape:
            raise SpecError(
                f"tensor {name}: {adapter.label} changes it with shape {list(adapter.delta_shape(target))} "
                f"but it is {list(tensors[name].shape)} in {base.label}; "
                "set base_model to the model the adapter was trained from"
            )
    for name, key in adapter.replacements.items():
        if name not in tensors or adapter.dir.weights.tensors[key].shape != tensors[name].shape:
            raise SpecError(
                f"tensor {name}: {adapter.label} saves a full copy that does not fit {base.label} "
                "(missing or another shape, e.g. a resized vocabulary); fold it with peft instead"
            )
    if adapter.uses_dora and (weight != 1 or not alone):
        raise SpecError(
            f"{adapter.label} is a DoRA adapter, which folds only on its own with weight 1; "
            "fold it alone with lora_fold, then merge the result"
        )
    check_tokenizers(base, adapter.dir)


def trained_on(adapter: LoraAdapter) -> str | None:
    """The base an adapter's config names (``base_model_name_or_path``), a local path resolved."""
    named = adapter.dir.config.get("base_model_name_or_path")
    if not named:
        return None
    path = Path(named)
    return str(path.resolve()) if path.is_absolute() and path.exists() else str(named).rstrip("/")


def check_same_base(adapters: list[LoraAdapter]) -> None:
    """Adapters merged together were trained on one base: the first that names another is refused."""
    named = [(adapter, trained_on(adapter)) for adapter in adapters]
    named = [(adapter, base) for adapter, base in named if base]
    for adapter, base in named[1:]:
        first, first_base = named[0]
        if base != first_base:
            raise SpecError(
                f"{adapter.label} was trained on {base!r} but {first.label} on {first_base!r}; "
                "adapters can be merged only with others of the same base model"
            )
    kinds = {type(adapter.dir.config.get("target_modules")) for adapter in adapters}
    if len(kinds) > 1:
        pattern = next(a for a in adapters if isinstance(a.dir.config.get("target_modules"), str))
        raise SpecError(
            f"{pattern.label} names its target modules by a pattern, the other adapters by a list; "
            "peft cannot combine the two: retrain it with target_modules as a list"
        )


def tokenizer_identity(path: Path) -> dict | None:
    """The token ↔ id map of the tokenizer saved in ``path`` (None where there is none)."""
    tokenizer_json = path / "tokenizer.json"
    if tokenizer_json.is_file():
        data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        vocab = data.get("model", {}).get("vocab") or {}
        ids = (
            dict(enumerate(p[0] for p in vocab))
            if isinstance(vocab, list)
            else {v: k for k, v in vocab.items()}
        )
        ids.update({t["id"]: t["content"] for t in data.get("added_tokens", [])})
        return ids
    for name in ("vocab.json", "tokenizer.model"):
        if (path / name).is_file():
            return {-1: hashlib.sha256((path / name).read_bytes()).hexdigest()}
    return None


def check_tokenizers(reference: ModelDir, other: Input) -> None:
    mine, theirs = tokenizer_identity(reference.path), tokenizer_identity(other.path)
    if theirs is None and isinstance(other, AdapterDir):
        return  # an adapter without tokenizer files uses its base's
    if mine is None or theirs is None:
        missing = reference if mine is None else other
        log.warning(f"{missing.label} has no tokenizer files; its vocabulary was checked by size only")
        return
    for token_id in sorted(set(mine) | set(theirs)):
        if mine.get(token_id) != theirs.get(token_id):
            where = (
                "its tokenizer files differ"
                if token_id == -1
                else (
                    f"token id {token_id} is {theirs.get(token_id)!r} there and {mine.get(token_id)!r} in "
                    f"{reference.label}"
                )
            )
            raise SpecError(f"{other.label} uses a different tokenizer: {where}; {SAME_BASE}")
