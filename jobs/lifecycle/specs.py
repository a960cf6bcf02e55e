"""The trainer's spec of one attempt, built from a job's record: the fields every kind shares, then
each kind's own (one builder per kind in ``BUILDERS``), parsed by the trainer's spec models.

The launch path builds the first attempt's spec before a job is queued (``jobs.launch``) and the
dispatcher builds each attempt's again (``jobs.lifecycle.services``), so both see the same document.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from jobs.data import storage
from jobs.gates import GATE, GOLDEN_ROLE
from jobs.lifecycle import shape
from jobs.models import ComputeProfile, Dataset, Job, JobInput, ModelAsset, Team
from trainers.spec import parse_spec

Inputs = dict[str, list[JobInput]]


def output_dir(job: Job) -> Path:
    return storage.root() / "runs" / f"job-{job.pk}" / "output"


def latest_checkpoint(job: Job) -> Path | None:
    checkpoints = output_dir(job) / "checkpoints"
    found = [p for p in checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def spec_common(job: Job, attempt_number: int) -> dict:
    """The fields every kind of spec has: identity, output and where events go."""
    ingest_url = settings.HONE_INGEST_URL.rstrip("/")
    events_url = f"{ingest_url}/api/v1/attempts/{job.pk}/{attempt_number}/events" if ingest_url else None
    return {
        "kind": job.kind,
        "job_id": job.pk,
        "attempt": attempt_number,
        "output_dir": str(output_dir(job)),
        "events": {"url": events_url},
    }


def build_spec(job: Job, attempt_number: int, resume_from: Path | None) -> dict:
    """The validated spec of one attempt; raises SpecError naming the offending field."""
    fields = BUILDERS[job.kind](job, job_inputs(job), resume_from)
    return parse_spec(spec_common(job, attempt_number) | fields).model_dump(mode="json")


def job_inputs(job: Job) -> Inputs:
    found: Inputs = {}
    for row in job.inputs.select_related("model", "model__adapter_base", "dataset").order_by("position"):
        found.setdefault(row.role, []).append(row)
    return found


def model_ref(model: ModelAsset) -> dict:
    return {"name": model.name, "path": model.path or None, "hub_id": model.hub_id or None}


def dataset_ref(dataset: Dataset) -> dict:
    return {
        "path": str(storage.resolve(dataset.location)),
        "sha256": dataset.sha256,
        "format": dataset.format,
        "task": dataset.task,
    }


def _dataset(inputs: Inputs, role: str) -> dict | None:
    rows = inputs.get(role)
    return dataset_ref(rows[0].dataset) if rows else None


def _eval_path(inputs: Inputs) -> dict:
    """A validation input is what the trainer evaluates on, instead of a held-out share."""
    rows = inputs.get("validation")
    return {"eval_path": str(storage.resolve(rows[0].dataset.location))} if rows else {}


def _train(job: Job, inputs: Inputs, resume_from: Path | None, params: dict | None = None) -> dict:
    # A continued job starts from an adapter: its "model" input (jobs/launch/continuation.py).
    start = [row.model for row in inputs.get("model", []) if row.model.format == ModelAsset.Format.ADAPTER]
    given = job.params if params is None else params
    return {
        "base_model": model_ref(job.base_model),
        "dataset": dataset_ref(job.dataset) | _eval_path(inputs),
        "objective": job.objective or "sft",
        "method": job.method,
        **{group: values for group, values in given.items() if group != GATE},  # the gate is read here
        "resume_from": str(resume_from) if resume_from else None,
        "init_adapter": start[0].path if start else None,
        # The classifiers its rewards name: their directories from the job's inputs, never the request.
        "reward_models": {str(row.model.pk): row.model.path for row in inputs.get("reward_model", [])},
        "retention_task": retention_task(job.team),
        # Nodes × processes of the profile, and the strategy that fits the model on them.
        "distributed": shape.plan(
            job.base_model, _profile(job), job.method, job.params if params is None else params
        ).spec,
    }


def retention_task(team: Team) -> dict | None:
    """The team's multiple-choice task for the forgetting report: built-in, its dataset, or none."""
    if team.retention_task == Team.RetentionTask.BUILTIN:
        return {"dataset": None}
    if team.retention_task == Team.RetentionTask.DATASET and team.retention_dataset is not None:
        return {"dataset": dataset_ref(team.retention_dataset)}
    return None


def _profile(job: Job) -> ComputeProfile | None:
    return job.profile if job.profile_id else ComputeProfile.objects.default()


def _sweep(job: Job, inputs: Inputs, _resume: Path | None) -> dict:
    """A sweep's spec: the training job every trial starts from, as a full training spec, and the search
    (``job.params``: ``trial`` — the training parameters — and the space, sampler, pruner, budget)."""
    search = {k: v for k, v in job.params.items() if k != "trial"}
    search["trial_kind"] = kind = search.get("trial_kind", Job.Kind.TRAIN)
    build = _merge_of_sweep if kind == Job.Kind.MERGE else _train
    trial = build(job, inputs, None, job.params.get("trial", {}))
    trial = spec_common(job, 1) | {"kind": kind} | trial
    return {"trial": trial, **search}


def _merge_of_sweep(job: Job, inputs: Inputs, _resume: Path | None, params: dict) -> dict:
    """An evolved merge's trial: its models and base, never its evaluation data (the evaluate jobs'),
    its outputs in a folder of their own."""
    merge = _merge(job, {k: v for k, v in inputs.items() if k != "dataset"}, None, params)
    return merge | {"output_dir": str(output_dir(job) / "trial")}


def _quantize(job: Job, inputs: Inputs, _resume: Path | None) -> dict:
    p = job.params
    fields = {
        "model": model_ref(inputs["base"][0].model),
        "method": p["method"],
        "outputs": p.get("outputs", ["torchao"]),
        "calibration": _dataset(inputs, "calibration"),
        "eval_texts": _dataset(inputs, "dataset"),
    }
    if p.get("params"):
        fields[p["method"]] = p["params"]
    return fields


def evaluated(model: ModelAsset) -> dict:
    """How the trainer reads a model asset: plain, an adapter on its base, or a GGUF file."""
    if model.format == ModelAsset.Format.ADAPTER:
        return {"model": model_ref(model.adapter_base), "adapter_path": model.path}
    if model.format == ModelAsset.Format.GGUF:
        path = Path(model.path)
        return {"model": {"name": model.name, "path": str(path.parent)}, "gguf_file": path.name}
    return {"model": model_ref(model)}


def _evaluate(job: Job, inputs: Inputs, _resume: Path | None) -> dict:
    params = {k: v for k, v in job.params.items() if k not in ("harness", "judge")}
    return {
        "base": evaluated(inputs["base"][0].model),
        "candidate": evaluated(inputs["candidate"][0].model),
        "dataset": _dataset(inputs, "dataset"),
        "harness": _harness(job, inputs),
        "judge": _judge(job, inputs),
        **params,
    }


def _judge(job: Job, inputs: Inputs) -> dict | None:
    """``params.judge`` (rubric, swap_positions) with the judge model and labelled pairs of the inputs."""
    chosen, judge = job.params.get("judge"), inputs.get("judge")
    labelled = _dataset(inputs, "judge_labels")
    if chosen is not None and chosen.get("use_endpoint"):  # the operator's endpoint; its key is not here
        endpoint = {"base_url": settings.HONE_JUDGE_BASE_URL, "model": settings.HONE_JUDGE_MODEL}
        return {**chosen, "endpoint": endpoint, "labelled": labelled}
    if chosen is None or not judge:
        return None  # the launch rules refuse one without the other
    return {**chosen, "model": evaluated(judge[0].model), "labelled": labelled}


def _harness(job: Job, inputs: Inputs) -> dict | None:
    """``params.harness`` (what the person chose) with the operator's task directories and the job's
    multiple-choice datasets (its ``harness`` inputs): paths never come from a request."""
    chosen, uploaded = job.params.get("harness"), inputs.get("harness", [])
    if chosen is None and not uploaded:
        return None
    return {
        **(chosen or {}),
        "task_dirs": list(settings.HONE_HARNESS_TASK_DIRS),
        "datasets": [dataset_ref(row.dataset) for row in uploaded],
    }


def _merge(job: Job, inputs: Inputs, _resume: Path | None, params: dict | None = None) -> dict:
    p = job.params if params is None else params
    models = [
        {"name": row.model.name, "path": row.model.path, "weight": row.weight}
        for row in inputs.get("model", [])
    ]
    base = inputs.get("base")
    params = dict(p.get("params", {}))
    if held_out := _dataset(inputs, "dataset"):  # greedy soup scores its soups on this
        params["held_out"] = held_out
    return {
        "method": p["method"],
        "models": models,
        "base_model": model_ref(base[0].model) if base else None,
        "params": params,
        "gate_evaluation": _gate_evaluation(job, inputs),
        **{k: v for k, v in p.items() if k not in ("method", "params", GATE)},
    }


def _gate_evaluation(job: Job, inputs: Inputs) -> dict | None:
    """A gated merge's evaluation step: its base (else first) model against the merged one, on the
    golden set for a task metric and on the retention set for a retention rule (jobs/gates.py)."""
    gate = job.params.get(GATE)
    if gate is None:
        return None
    reference = (inputs.get("base") or inputs.get("model"))[0].model
    return {
        "reference": evaluated(reference),
        "dataset": _dataset(inputs, GOLDEN_ROLE) if gate.get("metric") else None,
        "retention": gate.get("max_retention_drop") is not None,
    }


def _curate(job: Job, inputs: Inputs, _resume: Path | None) -> dict:
    """The datasets to curate in order, the evaluation set, and the models whose tokenizer counts
    lengths ("base": the model the data is for) and which embeds rows ("model"; default MiniLM)."""
    datasets = [row.dataset for row in inputs.get("dataset", [])]
    tokenizer, embedder = inputs.get("base"), inputs.get("model")
    return {
        **job.params,
        "datasets": [dataset_ref(d) for d in datasets],
        "dataset_names": [d.name for d in datasets],
        "dataset_rows": [d.row_count for d in datasets],
        "eval_set": _dataset(inputs, "eval"),
        "target_set": _dataset(inputs, "target"),
        "tokenizer": model_ref(tokenizer[0].model) if tokenizer else None,
        "embedder": model_ref(embedder[0].model) if embedder else None,
    }


# One builder per job kind: the spec fields it adds to the common ones. A new kind adds one here.
BUILDERS: dict[str, Callable[[Job, Inputs, Path | None], dict]] = {
    Job.Kind.TRAIN: _train,
    Job.Kind.MERGE: _merge,
    Job.Kind.QUANTIZE: _quantize,
    Job.Kind.EVALUATE: _evaluate,
    Job.Kind.CURATE: _curate,


    Job.Kind.SWEEP: _sweep,
}
