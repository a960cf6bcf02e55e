"""Merge, quantize and evaluate jobs: how each is created from models and datasets, and the
spec fields each kind adds to the common ones (see ``services.build_spec``).

Every job is validated by building its first spec before it is queued, with the trainer's
own spec models, so a bad combination is refused with the field that is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.db import transaction
from pydantic import ValidationError

from jobs import lineage, services, transitions
from jobs.models import ComputeProfile, Dataset, Job, JobInput, ModelAsset, Team
from trainers.spec import SpecError

Loc = tuple[str | int, ...]
# Tokens a chat template and end-of-text may add per calibration row, at most (a generous bound).
CALIBRATION_ROW_OVERHEAD = 64
# A calibration file this many bytes per token asked for fills the windows with any tokenizer.
CLEARLY_ENOUGH_BYTES_PER_TOKEN = 16
MIN_CALIBRATION_SAMPLES = 4  # GptqParams.calibration_samples' lower bound


class JobRejected(ValueError):
    """The job cannot run as asked; the message names the field and what to do.

    ``problems`` holds each problem as (where in the spec, message), for callers that map spec
    fields to their own (the API's ``models[1].model``, a form's field)."""

    def __init__(self, message: str, problems: list[tuple[Loc, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [((), message)]


def create_job(
    kind: str,
    *,
    team: Team,
    user,
    name: str,
    params: dict,
    models: list[tuple[str, ModelAsset, float | None]],
    datasets: list[tuple[str, Dataset]] = (),
    profile: ComputeProfile | None = None,
) -> Job:
    """Create and queue a merge, quantize or evaluate job; JobRejected if it cannot run.

    Refused before anything is queued: other teams' inputs, a spec the trainer's models refuse,
    and what can be told from the files without loading weights (a merge's compatibility check,
    a calibration set too small for the samples asked)."""
    for role, model, _weight in models:
        if model.team_id not in (None, team.pk):
            message = f"model {model.pk} is not available to {team.name}"
            raise JobRejected(message, [((role,), message)])
    for role, dataset in datasets:
        if dataset.team_id != team.pk:
            message = f"dataset {dataset.pk} is not available to {team.name}"
            raise JobRejected(message, [((role,), message)])
    with transaction.atomic():
        job = Job.objects.create(
            team=team,
            created_by=user,
            name=name,
            kind=kind,
            method=str(params.get("method", kind)),
            base_model=models[0][1] if models else None,
            profile=profile,
            params=params,
        )
        lineage.record_inputs(job, models=models, datasets=datasets)
        try:
            spec = services.build_spec(job, 1, None)
            if kind == Job.Kind.MERGE:
                check_merge_files(spec)
            elif kind == Job.Kind.QUANTIZE:
                check_calibration_size(job, spec)
        except SpecError as exc:
            raise rejected(exc) from None  # leaving the atomic block rolls the job back
        transitions.record(job.pk, Job.Status.QUEUED)
        services.enqueue_dispatch(job.pk)
    return job


def create_training_job(*, profile: ComputeProfile | None = None, **fields) -> Job:
    """A training job (``services.create_training_job``) that runs on ``profile``."""
    with transaction.atomic():
        return set_profile(services.create_training_job(**fields), profile)


def set_profile(job: Job, profile: ComputeProfile | None) -> Job:
    """Run a just-created job on ``profile``; call it in the transaction that created the job, so
    the dispatcher (enqueued on commit) sees the profile."""
    if profile is not None:
        job.profile = profile
        job.save(update_fields=["profile"])
    return job


def rejected(exc: SpecError) -> JobRejected:
    """A SpecError as JobRejected, each problem with the spec field it is about."""
    message = str(exc).removeprefix("invalid job spec: ")
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        problems = [_located(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in cause.errors()]
    else:
        problems = [_located((), message)]
    return JobRejected(message, problems)


def _located(loc: Loc, message: str) -> tuple[Loc, str]:
    """A whole-spec message that names its field first ("outputs: …") is about that field."""
    if not loc and (named := re.match(r"^([A-Za-z_][\w.]*): ", message)):
        return tuple(named.group(1).split(".")), message[named.end() :]
    return loc, message


def _input_at(message: str) -> Loc:
    """Which input a merge compatibility message names first (``models[1] 'x'``, ``base_model``)."""
    found = re.search(r"\bmodels\[(\d+)\]|\bbase_model\b", message)
    if found is None:
        return ("models",)
    return ("models", int(found.group(1))) if found.group(1) else ("base_model",)


def check_merge_files(spec: dict) -> None:
    """The merge's compatibility check (trainers/merge/compat.py) from config files and
    safetensors headers, no weights loaded; JobRejected naming the first offending input.
    Inputs this server cannot see (a hub base model, files on another machine) are left to the
    trainer, which runs the same check before any work."""
    from trainers.merge import registry, run
    from trainers.merge.inputs import close_all, describe
    from trainers.spec_merge import MergeSpec

    merge = MergeSpec.model_validate(spec)
    base_ref = merge.base_model
    paths = [m.path for m in merge.models] + ([base_ref.path] if base_ref else [])
    if any(p is None or not Path(p).exists() for p in paths):
        return
    described = []
    try:
        for i, m in enumerate(merge.models):
            described.append(describe(f"models[{i}] '{m.name}'", m.path))
        base = describe(f"base_model '{base_ref.name}'", base_ref.path) if base_ref else None
        out_dir = Path(merge.output_dir).resolve()
        run.check_inputs(merge, registry.get(merge.method), described, base, out_dir)
    except SpecError as exc:
        raise JobRejected(str(exc), [(_input_at(str(exc)), str(exc))]) from None
    finally:
        close_all(described)


def check_calibration_size(job: Job, spec: dict) -> None:
    """JobRejected for a calibration dataset that cannot fill the windows GPTQ asks for, counted as
    the trainer counts them (``trainers.quantize.calibration``: the model's tokenizer over the rows as
    rendered for training), and worded in the quantize form's labels. A dataset whose size alone
    rules out a shortfall (more than CLEARLY_ENOUGH bytes per token asked) is not tokenized."""
    if spec["method"] != "gptq_int4" or spec.get("calibration") is None:
        return
    dataset = job.inputs.get(role="calibration").dataset
    p = spec["gptq_int4"]
    samples, seq_len = p["calibration_samples"], p["calibration_seq_len"]
    if dataset.bytes >= samples * seq_len * CLEARLY_ENOUGH_BYTES_PER_TOKEN:
        return
    tokens = _calibration_tokens(job, spec, samples * seq_len)
    if tokens is None:  # no tokenizer here: the generous bound, every byte one token
        tokens = dataset.bytes + dataset.row_count * CALIBRATION_ROW_OVERHEAD
    fits = tokens // seq_len
    if fits >= samples:
        return
    gives = f"“{dataset.name}” ({dataset.row_count:,} rows) gives {tokens:,} tokens of calibration text"
    if fits < MIN_CALIBRATION_SAMPLES:
        message = (
            f"{gives}, too few for GPTQ's smallest setting ({MIN_CALIBRATION_SAMPLES} calibration samples "
            f"of {seq_len} tokens); choose a larger Calibration data set, or leave it blank to calibrate "
            "on the built-in text"
        )
    else:
        message = (
            f"{gives}: enough for {fits} calibration samples of {seq_len} tokens, not the {samples} asked "
            f"for; set Calibration samples to {fits} or fewer, or choose a larger Calibration data set"
        )
    raise JobRejected(f"calibration: {message}", [(("calibration",), message)])


def _calibration_tokens(job: Job, spec: dict, needed: int) -> int | None:
    """Tokens the calibration rows give, up to ``needed``; None when the tokenizer cannot be read."""
    from jobs import data_preview
    from trainers.quantize.calibration import calibration_texts
    from trainers.spec import DatasetRef

    try:
        tokenizer = data_preview.load_tokenizer(job.inputs.get(role="base").model)
    except data_preview.PreviewUnavailable:
        return None
    seed = spec["gptq_int4"].get("seed", 0)
    texts, special, _source = calibration_texts(tokenizer, DatasetRef(**spec["calibration"]), seed)
    eos = 1 if tokenizer.eos_token_id is not None else 0
    tokens = 0
    for text in texts:
        tokens += len(tokenizer(text, add_special_tokens=special)["input_ids"]) + eos
        if tokens >= needed:
            break
    return tokens


def spec_fields(job: Job) -> dict:
    builders = {Job.Kind.QUANTIZE: _quantize, Job.Kind.EVALUATE: _evaluate, Job.Kind.MERGE: _merge}
    return builders[job.kind](job, _inputs(job))


def _inputs(job: Job) -> dict[str, list[JobInput]]:
    found: dict[str, list[JobInput]] = {}
    for row in job.inputs.select_related("model", "model__adapter_base", "dataset").order_by("position"):
        found.setdefault(row.role, []).append(row)
    return found


def _dataset(inputs: dict[str, list[JobInput]], role: str) -> dict | None:
    rows = inputs.get(role)
    return services.dataset_ref(rows[0].dataset) if rows else None


def _quantize(job: Job, inputs: dict[str, list[JobInput]]) -> dict:
    p = job.params
    fields = {
        "model": services.model_ref(inputs["base"][0].model),
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
        return {"model": services.model_ref(model.adapter_base), "adapter_path": model.path}
    if model.format == ModelAsset.Format.GGUF:
        path = Path(model.path)
        return {"model": {"name": model.name, "path": str(path.parent)}, "gguf_file": path.name}
    return {"model": services.model_ref(model)}


def _evaluate(job: Job, inputs: dict[str, list[JobInput]]) -> dict:
    return {
        "base": evaluated(inputs["base"][0].model),
        "candidate": evaluated(inputs["candidate"][0].model),
        "dataset": _dataset(inputs, "dataset"),
        **job.params,
    }


def _merge(job: Job, inputs: dict[str, list[JobInput]]) -> dict:
    p = job.params
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
        "base_model": services.model_ref(base[0].model) if base else None,
        "params": params,
        **{k: v for k, v in p.items() if k not in ("method", "params")},
    }
