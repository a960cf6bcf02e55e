"""Promotion gates: the rules a training or merge job's model must meet before it becomes a team model.

A gate is ``params.gate`` of a training job (a sweep's trials carry it in ``params.trial.gate``):
``{"metric": "eval/accuracy", "min_gain": 2, "max_retention_drop": 1}`` reads "accuracy at least
the base's + 2 points, general-text perplexity up at most 1 %". The task metric is measured on the
job's validation set, which must be one of the team's golden datasets (``Dataset.golden``): the
trainer evaluates the base on it before the first step (step 0) and the trained model after the
last, so the gain is last − first. The retention drop is the forgetting report's rise in
perplexity (trainers/forgetting.py). A gain is in percentage points for a ratio metric (accuracy,
macro-F1: 0.02 is 2 points) and in the metric's own units, as a decrease, for loss and perplexity.

The gate is checked at launch (known metric, bounded thresholds, a golden validation set) and
evaluated from the recorded metrics when the job succeeds (``jobs.lifecycle.services``).

A merge job's gate is its ``params.gate`` too. Its task metric is measured on the golden dataset of
its ``golden`` input, after the merge, by the evaluation code (trainers/merge/gate_eval.py): the
model it is compared with (its base model, else its first input) is step 0, the merged model step 1;
the retention rule reads the two models' retention perplexity the same way. Promoted
means registered as a ModelAsset of the team, the thing every picker and the API offer as a job's
input: a model whose gate failed is not registered; its files stay on the job page to download.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.data import storage
from jobs.models import Dataset, Job, ModelAsset

log = logging.getLogger(__name__)

GATE = "gate"  # the parameter group of a training or merge job
GATED_KINDS = (Job.Kind.TRAIN, Job.Kind.MERGE)
GOLDEN_ROLE = "golden"  # a merge job's input: the golden dataset its task metric is measured on
RETENTION_SERIES = "retention/perplexity"
# Metric → whether higher is better. Ratio metrics' gains are read in percentage points.
METRICS: dict[str, bool] = {"eval/accuracy": True, "eval/macro_f1": True, "eval/loss": False,
                            "eval/perplexity": False}
RATIO_METRICS = ("eval/accuracy", "eval/macro_f1")
# What a merge's evaluation step measures, by the kind of model merged, and the golden data it reads.
MERGE_METRICS = {ModelAsset.Task.CAUSAL_LM: ("eval/loss", "eval/perplexity"),
                 ModelAsset.Task.CLASSIFICATION: RATIO_METRICS}
MERGE_DATA = {ModelAsset.Task.CAUSAL_LM: ("text", "instruction", "chat"),
              ModelAsset.Task.CLASSIFICATION: ("classification",)}
Series = dict[str, list[tuple[int, float | None]]]


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Literal["eval/accuracy", "eval/macro_f1", "eval/loss", "eval/perplexity"] | None = None
    min_gain: float | None = Field(None, ge=-100.0, le=100.0, description="points over the base")
    max_retention_drop: float | None = Field(None, ge=0.0, le=1000.0, description="% rise in perplexity")

    @model_validator(mode="after")
    def _complete(self) -> GateSpec:
        if self.metric is None and self.min_gain is None and self.max_retention_drop is None:
            raise ValueError("a gate needs a rule: metric with min_gain, or max_retention_drop")
        if (self.metric is None) != (self.min_gain is None):
            raise ValueError(
                "metric and min_gain go together: the metric, and the gain over the base it needs"
            )
        return self


def launch_problems(
    gate: GateSpec, base: ModelAsset | None, validation: Dataset | None
) -> list[tuple[str, str]]:
    """(field, message) for what the records say the gate cannot be measured on."""
    found = []
    if gate.metric is not None and (validation is None or not validation.golden):
        named = f"{validation.name} is not marked golden" if validation else "the job has no validation set"
        found.append(("metric", f"{named}; a task-metric gate is measured on a golden evaluation set: give "
                      "one of the team's golden datasets as the validation set (mark it on its page)"))
    if gate.max_retention_drop is not None and base is not None and base.task != ModelAsset.Task.CAUSAL_LM:
        found.append(("max_retention_drop", f"{base.name} is a classifier; the forgetting report "
                      "measures text-generation models only"))
    return found


def merge_launch_problems(
    gate: GateSpec, reference: ModelAsset | None, golden: Dataset | None
) -> list[tuple[str, str]]:
    """(field, message) for a merge's gate: a golden set the merged kind of model can be scored on."""
    if reference is None:
        return []  # the merge's own checks say what inputs it needs
    task = reference.adapter_base.task if reference.adapter_base_id else reference.task
    found = []
    if gate.metric is not None:
        found += _merge_metric_problems(gate.metric, task, golden)
    if gate.max_retention_drop is not None and task != ModelAsset.Task.CAUSAL_LM:
        found.append(("max_retention_drop", f"{reference.name} is a classifier; the forgetting report "
                      "measures text-generation models only"))
    return found


def _merge_metric_problems(metric: str, task: str, golden: Dataset | None) -> list[tuple[str, str]]:
    fits, label = MERGE_METRICS.get(task, ()), ModelAsset.Task(task).label
    if metric not in fits:
        scored_by = " or ".join(fits)
        return [("metric", f"the merged model is a {label} model, scored by {scored_by}, not {metric}")]
    if golden is None or not golden.golden:
        named = f"{golden.name} is not marked golden" if golden else "the merge has no golden dataset"
        return [("metric", f"{named}; a task-metric gate is measured on a golden evaluation set: give one of "
                 "the team's golden datasets as golden_dataset (mark it on its page)")]
    if golden.task not in MERGE_DATA[task]:
        return [("metric", f"{golden.name} holds {golden.task} data; a {label} model is scored on "
                 f"{' or '.join(MERGE_DATA[task])} data")]
    return []


def _ends(points: list[tuple[int, float | None]] | None) -> tuple[float, float] | None:
    if not points or len(points) < 2 or points[0][0] != 0 or None in (points[0][1], points[-1][1]):
        return None
    return points[0][1], points[-1][1]


def _metric_rule(gate: GateSpec, series: Series) -> dict:
    ends = _ends(series.get(gate.metric))
    rule = f"{gate.metric} ≥ base {'+' if gate.min_gain >= 0 else '−'} {abs(gate.min_gain):g} points"
    if ends is None:
        why = f"no {gate.metric} of the base (step 0) and of the trained model"
        return {"rule": rule, "passed": False, "why": why}
    base, trained = ends
    scale = 100.0 if gate.metric in RATIO_METRICS else 1.0
    gain = (trained - base if METRICS[gate.metric] else base - trained) * scale
    return {"rule": rule, "passed": gain >= gate.min_gain, "base": base, "trained": trained, "gain": gain}


def _retention_rule(gate: GateSpec, series: Series) -> dict:
    ends = _ends(series.get(RETENTION_SERIES))
    rule = f"retention drop ≤ {gate.max_retention_drop:g} %"
    if ends is None:
        return {"rule": rule, "passed": False, "why": "no forgetting report (retention/perplexity) recorded"}
    before, after = ends
    drop = (after / before - 1.0) * 100.0
    return {"rule": rule, "passed": drop <= gate.max_retention_drop, "base": before, "trained": after,
            "drop": drop}


def evaluate(gate: GateSpec, series: Series) -> dict:
    """``{"passed", "rules": [{rule, passed, base, trained, gain | drop | why}]}`` from the metrics."""
    rules = []
    if gate.metric is not None:
        rules.append(_metric_rule(gate, series))
    if gate.max_retention_drop is not None:
        rules.append(_retention_rule(gate, series))
    return {"passed": all(r["passed"] for r in rules), "rules": rules}


def gate_of(job: Job) -> GateSpec | None:
    """The gate a job was launched with (checked then), or None."""
    given = job.params.get(GATE) if job.kind in GATED_KINDS else None
    return None if given is None else GateSpec.model_validate(given)


def status_of(kind: str, params: dict, result: dict | None) -> dict | None:
    """A job's gate as the pages and the API show it: its spec, pending/passed/failed, whether its model
    was promoted and each rule's numbers (``base``; ``trained``: the trained or merged model)."""
    spec = params.get(GATE) if kind in GATED_KINDS else None
    if spec is None:
        return None
    shown = {"spec": spec, "measured_model": "Merged" if kind == Job.Kind.MERGE else "Trained"}
    if result is None:
        return shown | {"status": "pending", "promoted": False, "rules": []}
    status = "passed" if result["passed"] else "failed"
    return shown | {"status": status, "promoted": result["passed"], "rules": result["rules"]}


def summary_line(result: dict) -> str:
    """One line for the model card and the log: passed/failed, each rule with its numbers."""
    parts = []
    for r in result["rules"]:
        measured = r.get("why") or (f"gain {r['gain']:+.2f}" if "gain" in r else f"drop {r['drop']:+.2f} %")
        parts.append(f"{r['rule']}: {'passed' if r['passed'] else 'failed'} ({measured})")
    return f"Gate {'passed' if result['passed'] else 'failed'}: " + "; ".join(parts)


def recorded_series(job: Job, gate: GateSpec) -> Series:
    """The job's points of the series its gate reads, in step order."""
    names = [name for name in (gate.metric, RETENTION_SERIES if gate.max_retention_drop is not None else None)
             if name]
    found: Series = {name: [] for name in names}
    for name, step, value in job.metrics.filter(name__in=names).order_by("name", "step").values_list(
        "name", "step", "value"
    ):
        found[name].append((step, value))
    return found


def settle(job: Job) -> bool:
    """Evaluate a succeeded job's gate, record it (job, model card); whether its model may be promoted."""
    gate = gate_of(job)
    if gate is None:
        return True
    result = evaluate(gate, recorded_series(job, gate))
    Job.objects.filter(pk=job.pk).update(gate_result=result)
    job.gate_result = result
    log.info("job %s: %s", job.pk, summary_line(result))
    _write_to_model_card(job, result)
    return result["passed"]


def _write_to_model_card(job: Job, result: dict) -> None:
    """The gate's section at the end of the model card (README.md) of each model the job produced."""
    lines = ["", "## Promotion gate", "", summary_line(result) + ".", ""]
    if not result["passed"]:
        lines += ["This model was not registered as a team model because it failed its gate.", ""]
    for artifact in job.artifacts.filter(kind__in=("adapter", "model")):
        card = storage.resolve(artifact.location) / "README.md"
        try:
            if card.is_file():
                with card.open("a", encoding="utf-8") as out:
                    out.write("\n".join(lines))
        except OSError as exc:  # the record in the database stands; the card is a copy of it
            log.warning("job %s: could not add the gate to %s: %s", job.pk, card, exc)
