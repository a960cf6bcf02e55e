"""The evaluation step of a gated merge: the model it is compared with, then the merged model,
measured the same way by the evaluation code, so the platform can check the promotion gate.

Events: ``metric`` of split "eval" (step 0: the reference, step 1: the merged model) named as an
evaluate job names them (``perplexity`` and ``loss``, the mean token NLL, for language models on the
golden set; ``accuracy`` and ``macro_f1`` for classifiers), and ``perplexity`` of split "retention"
(the forgetting report's retention set) when the gate has a retention rule. The platform reads them
as the series ``eval/accuracy``, ``retention/perplexity``… (jobs/gates.py). Models are loaded one at
a time, after the merge has been written and its inputs closed, so peak memory is one model's.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from trainers.evaluation.data import LM_TASKS, check_dataset
from trainers.evaluation.models import ModelKind, check_evaluated, load_evaluated
from trainers.evaluation.run import measure
from trainers.events import EventEmitter
from trainers.forgetting import retention_perplexity
from trainers.spec import ModelRef, SpecError
from trainers.spec_evaluate import EvaluatedModel, EvaluateSpec
from trainers.spec_merge import GateEvaluation, MergeSpec

log = logging.getLogger("trainers")

SIDES = ("reference", "merged")  # metric step 0 and step 1


def check_gate_evaluation(spec: MergeSpec) -> ModelKind | None:
    """Refuse a gate that cannot be measured before the first tensor is merged: the reference model
    must be there, the golden set unchanged and of the kind the model reads."""
    gate = spec.gate_evaluation
    if gate is None:
        return None
    kind = check_evaluated(gate.reference, "gate_evaluation.reference")
    if gate.dataset is not None:
        tasks = ("classification",) if kind == "classifier" else LM_TASKS
        check_dataset(gate.dataset, "gate_evaluation.dataset", tasks)
    if gate.retention and kind != "causal_lm":
        raise SpecError("gate_evaluation.retention: the retention set measures text-generation models only")
    return kind


def merged_model(spec: MergeSpec, out_dir: Path, output: str) -> EvaluatedModel:
    """The merge's result as the evaluation code reads it: a model directory, or an adapter on the base."""
    if output == "adapter":
        assert spec.base_model is not None  # adapter-producing methods need the base (compat.py)
        return EvaluatedModel(model=spec.base_model, adapter_path=str(out_dir))
    return EvaluatedModel(model=ModelRef(name="merged", path=str(out_dir)))


def evaluate_for_gate(spec: MergeSpec, out_dir: Path, output: str, emitter: EventEmitter) -> dict:
    """Measure the reference and the merged model; ``{side: {series: value}}``, also sent as metrics."""
    gate = spec.gate_evaluation
    assert gate is not None
    kind = check_gate_evaluation(spec)
    models = {"reference": gate.reference, "merged": merged_model(spec, out_dir, output)}
    found: dict[str, dict[str, float | None]] = {}
    for step, side in enumerate(SIDES):
        loaded = load_evaluated(models[side], kind)
        found[side] = _measure_one(spec, gate, models, loaded)
        del loaded
        gc.collect()
        for series, value in found[side].items():
            split, name = series.split("/")
            emitter.metric(name, step=step, value=value, split=split)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in found[side].items() if v is not None)
        log.info(f"Promotion gate, {side} model: {shown}")
    return found


def _measure_one(spec: MergeSpec, gate: GateEvaluation, models: dict, loaded) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    if gate.dataset is not None:
        evaluation = EvaluateSpec(
            job_id=spec.job_id,
            attempt=spec.attempt,
            base=models["reference"],
            candidate=models["merged"],
            dataset=gate.dataset,
            max_rows=gate.max_rows,
            max_length=gate.max_length,
            prompts=[],
            output_dir=spec.output_dir,
        )
        measured = measure(evaluation, loaded)
        values |= {f"eval/{name}": value for name, value in measured.metrics.items()}
        if "nll_per_token" in measured.details:
            values["eval/loss"] = measured.details["nll_per_token"]
    if gate.retention:
        values["retention/perplexity"] = retention_perplexity(loaded.model, loaded.tokenizer)
    return values
