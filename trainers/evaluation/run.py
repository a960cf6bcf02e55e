"""The evaluate job: measure a base and a candidate model the same way and report them side by side.

Events: ``metric`` (split "eval"; step 0 is the base, step 1 the candidate) named ``perplexity``
for language models or ``accuracy`` and ``macro_f1`` for classifiers; one ``sample`` per prompt
and model ({step, prompt, output, model}); an ``artifact`` "report" (artifact_kind "report"), the
JSON file with everything. Models are loaded one at a time, so peak memory is one model's.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers.utils import logging as hf_logging

from trainers.evaluation.classify import label_names, predict_labels
from trainers.evaluation.data import LM_TASKS, check_dataset, lm_texts, read_rows
from trainers.evaluation.generate import generate
from trainers.evaluation.harness import PreparedHarness, prepare_harness, run_harness
from trainers.evaluation.judge import check_judge, run_judge
from trainers.evaluation.metrics import accuracy, macro_f1, score_texts
from trainers.evaluation.models import LoadedModel, ModelKind, check_evaluated, load_evaluated
from trainers.evaluation.report import emit_artifact, write_report
from trainers.events import EventEmitter
from trainers.spec import SpecError
from trainers.spec_evaluate import EvaluatedModel, EvaluateSpec
from trainers.training_record import trained_chat_template

log = logging.getLogger("trainers")

SIDES = ("base", "candidate")  # metric step 0 and step 1


@dataclass
class Measured:
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    generations: list[str] = field(default_factory=list)
    vocab: dict[str, int] | None = None


def run_evaluate(spec: EvaluateSpec, emitter: EventEmitter) -> None:
    hf_logging.disable_progress_bar()
    kind = check_inputs(spec)
    out_dir = Path(spec.output_dir).resolve()
    harness = prepare_harness(spec.harness, out_dir) if spec.harness else None  # before any model
    template = chat_template_for(spec)
    emitter.started(
        total_steps=len(SIDES),
        epochs=0,
        trainable_params=0,
        total_params=0,
        device=_device(),
        model=spec.candidate.model.name,
    )
    results: dict[str, Measured] = {}
    labels: dict[str, str] = {}
    for step, side in enumerate(SIDES):
        started = time.monotonic()
        loaded = load_evaluated(getattr(spec, side), kind)
        results[side] = measure(spec, loaded, harness, template)
        results[side].details["seconds"] = round(time.monotonic() - started, 3)
        labels[side] = loaded.label
        del loaded
        gc.collect()
        emit_side(emitter, step, side, results[side], spec.prompts)
        emitter.progress(
            step=step + 1, total=len(SIDES), epoch=0.0, eta_seconds=None, samples_per_second=None
        )
    report = build_report(spec, kind, results, labels)
    if harness is not None:
        report["harness"] = harness_report(harness, results, template)
    if spec.judge is not None:
        report["judge"] = emit_judge(spec, results, emitter)
    path = write_report(out_dir / "report.json", "evaluate", report)
    emit_artifact(emitter, "report", "report", path)
    emitter.finished("succeeded")


def check_inputs(spec: EvaluateSpec) -> ModelKind:
    kinds = {side: check_evaluated(getattr(spec, side), side) for side in SIDES}
    if kinds["base"] != kinds["candidate"]:
        base, candidate = (kinds[side].replace("_", " ") for side in SIDES)
        raise SpecError(f"base is a {base} but candidate a {candidate}; compare two models of the same kind")
    kind = kinds["base"]
    if kind == "classifier" and spec.harness is not None:
        raise SpecError("harness: harness tasks score language models; these models are classifiers")
    if kind == "classifier" and spec.dataset is None:
        raise SpecError("dataset: evaluating a classifier needs a dataset of text + label rows")
    if spec.dataset is not None:
        check_dataset(spec.dataset, "dataset", ("classification",) if kind == "classifier" else LM_TASKS)
    if spec.judge is not None:
        if kind == "classifier":
            raise SpecError("judge: a judge grades generated answers; classifiers generate none")
        check_judge(spec)
    return kind


def emit_judge(spec: EvaluateSpec, results: dict[str, Measured], emitter: EventEmitter) -> dict:
    """The judge's report; its win rate as a metric (step 0: the base's share, step 1: the candidate's)."""
    found = run_judge(spec, results["base"].generations, results["candidate"].generations)
    if (rate := found["candidate_win_rate"]) is not None:
        emitter.metric("judge_win_rate", step=0, value=1 - rate, split="eval")
        emitter.metric("judge_win_rate", step=1, value=rate, split="eval")
    if "labelled" in found:
        emitter.metric("judge_agreement", step=1, value=found["labelled"]["agreement"], split="eval")
    return found


def model_dir(ref: EvaluatedModel) -> str | None:
    """Where a side's training record would be: its adapter, or the model directory itself."""
    return ref.adapter_path or ref.model.path


def chat_template_for(spec: EvaluateSpec) -> str | None:
    """The chat template harness prompts are rendered with, or None for plain prompts.

    ``auto``: the template a side was trained with (Hone's training record), the candidate's first,
    so both sides read the same prompts; a model Hone did not train is measured without one."""
    if spec.harness is None or spec.harness.chat_template == "off":
        return None
    recorded = [trained_chat_template(model_dir(getattr(spec, side))) for side in ("candidate", "base")]
    found = next((t for t in recorded if t), None)
    if spec.harness.chat_template == "on" and found is None:
        from trainers.examples import FALLBACK_CHAT_TEMPLATE

        return FALLBACK_CHAT_TEMPLATE  # a tokenizer with its own template keeps it (see measure_harness)
    return found


def measure_harness(
    spec: EvaluateSpec, loaded: LoadedModel, harness: PreparedHarness, template: str | None
) -> dict[str, dict[str, float]]:
    if template is not None and not getattr(loaded.tokenizer, "chat_template", None):
        loaded.tokenizer.chat_template = template
    return run_harness(
        loaded.model, loaded.tokenizer, harness, spec.harness, chat_template=template is not None
    )


def harness_report(harness: PreparedHarness, results: dict[str, Measured], template: str | None) -> dict:
    """Per task: where its data was, and each side's metrics (a table: task × metric × side)."""
    import hashlib

    return {
        "tasks": [
            {"task": task, "data": harness.sources[task],
             **{side: results[side].details["harness"][task] for side in SIDES}}
            for task in harness.tasks
        ],
        "chat_template": hashlib.sha256(template.encode()).hexdigest() if template else None,
    }


def measure(
    spec: EvaluateSpec, loaded: LoadedModel, harness: PreparedHarness | None = None,
    template: str | None = None,
) -> Measured:
    if loaded.kind == "classifier":
        rows = read_rows(spec.dataset, spec.max_rows)
        truth = [str(row["label"]) for row in rows]
        names = label_names(_config(loaded.model), truth)
        predicted = predict_labels(
            loaded.model, loaded.tokenizer, [r["text"] for r in rows], names, max_length=spec.max_length
        )
        metrics = {"accuracy": accuracy(predicted, truth), "macro_f1": macro_f1(predicted, truth)}
        return Measured(metrics, {"rows": len(rows), "confusion": confusion(predicted, truth)})
    texts = lm_texts(loaded.tokenizer, spec.dataset, spec.max_rows)
    total = score_texts(
        loaded.model,
        loaded.tokenizer,
        texts.texts,
        max_length=spec.max_length,
        stride=spec.max_length // 2,
        add_special_tokens=texts.add_special_tokens,
    )
    details = {
        "texts": len(texts.texts),
        "tokens": total.tokens,
        "source": texts.source,
        "nll_per_token": total.nll / total.tokens if total.tokens else None,
    }
    outputs = (
        generate(loaded.model, loaded.tokenizer, spec.prompts, spec.max_new_tokens) if spec.prompts else []
    )
    metrics = {"perplexity": total.perplexity}
    if harness is not None:
        details["harness"] = measure_harness(spec, loaded, harness, template)
        table = details["harness"]
        metrics |= {f"{task}.{name}": v for task, row in table.items() for name, v in row.items()}
    return Measured(metrics, details, outputs, loaded.tokenizer.get_vocab())


def confusion(predicted: list[str], truth: list[str]) -> dict[str, dict[str, int]]:
    """``{label: {predicted: count}}``, for the report."""
    table: dict[str, dict[str, int]] = {}
    for p, t in zip(predicted, truth, strict=True):
        table.setdefault(t, {})[p] = table.get(t, {}).get(p, 0) + 1
    return table


def emit_side(emitter: EventEmitter, step: int, side: str, result: Measured, prompts: list[str]) -> None:
    for name, value in result.metrics.items():
        emitter.metric(name, step=step, value=value, split="eval")
    for prompt, output in zip(prompts, result.generations, strict=False):
        emitter.emit("sample", step=step, prompt=prompt, output=output, expected=None, model=side)


def build_report(
    spec: EvaluateSpec, kind: ModelKind, results: dict[str, Measured], labels: dict[str, str]
) -> dict:
    base, candidate = results["base"], results["candidate"]
    notes = []
    if kind == "causal_lm" and base.vocab != candidate.vocab:
        notes.append(
            "The two tokenizers differ, so their perplexities are over different tokens; compare with care."
        )
    return {
        "job_id": spec.job_id,
        "attempt": spec.attempt,
        "task": kind,
        "models": {side: {"label": labels[side], **getattr(spec, side).model_dump()} for side in SIDES},
        "dataset": spec.dataset.model_dump() if spec.dataset else None,
        "settings": {
            "max_rows": spec.max_rows,
            "max_length": spec.max_length,
            "stride": spec.max_length // 2,
            "max_new_tokens": spec.max_new_tokens,
        },
        "metrics": {side: results[side].metrics for side in SIDES},
        "delta": {name: candidate.metrics[name] - base.metrics[name] for name in base.metrics},
        "details": {side: results[side].details for side in SIDES},
        "samples": [
            {"prompt": prompt, "base": b, "candidate": c}
            for prompt, b, c in zip(spec.prompts, base.generations, candidate.generations, strict=False)
        ],
        "notes": notes,
    }


def _config(model: Any) -> Any:
    return model.get_base_model().config if hasattr(model, "get_base_model") else model.config


def _device() -> str:
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
