"""Run a merge job: check everything, merge, write config/tokenizer/card, report the artifact.

``run_merge`` reads top to bottom. Every problem with the inputs is found by ``prepare`` and
raised as ``SpecError`` (exit 2, never retried) before the first tensor is read. A merge with a
promotion gate then measures the model it is compared with and the merged one (gate_eval.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from trainers.data import file_sha256
from trainers.events import EventEmitter
from trainers.merge import compat, registry, tokenizers
from trainers.merge.adapters import LoraAdapter
from trainers.merge.card import write_model_card, write_support_files
from trainers.merge.engine import MergeJob, Progress, run_tensorwise
from trainers.merge.inputs import AdapterDir, Input, ModelDir, close_all, describe, resolve_base
from trainers.merge.method import MergeMethod
from trainers.merge.stream import INDEX_NAME, SINGLE_NAME
from trainers.spec_merge import MergeSpec

log = logging.getLogger("trainers")


def run_merge(spec: MergeSpec, emitter: EventEmitter) -> None:
    method = registry.get(spec.method)
    job = prepare(spec, method, emitter)
    try:
        job.progress.total = method.progress_steps(job)
        emitter.emit(
            "started",
            total_steps=job.progress.total,
            method=method.name,
            device="cpu",
            model=", ".join(m.name for m in spec.models),
        )
        log.info(f"Merging {len(spec.models)} inputs with {method.title} into {job.out_dir}")
        job.out_dir.mkdir(parents=True, exist_ok=True)
        (method.run or run_tensorwise)(job)
        write_support_files(job, job.out_dir)
        write_model_card(job, job.out_dir)
    finally:
        close_all([*job.models, job.base])
    emit_artifact(emitter, job.out_dir, method)
    if spec.gate_evaluation is not None:  # loads whole models: imported only for a gated merge
        from trainers.merge.gate_eval import evaluate_for_gate

        evaluate_for_gate(spec, job.out_dir, method.output, emitter)
    emitter.finished("succeeded")


def prepare(spec: MergeSpec, method: MergeMethod, emitter: EventEmitter) -> MergeJob:
    """Describe every input and check the combination; nothing is merged or written yet."""
    out_dir = Path(spec.output_dir).resolve()
    models: list[Input] = [describe(f"models[{i}] '{m.name}'", m.path) for i, m in enumerate(spec.models)]
    base = None
    if spec.base_model is not None:
        base = describe(f"base_model '{spec.base_model.name}'", str(resolve_base(spec.base_model)))
    adapters = check_inputs(spec, method, models, base, out_dir)  # no file is held open yet
    if spec.gate_evaluation is not None:
        from trainers.merge.gate_eval import check_gate_evaluation

        check_gate_evaluation(spec)
    assert base is None or isinstance(base, ModelDir)
    job = MergeJob(
        spec=spec,
        method=method,
        params=spec.method_params(),
        models=models,
        base=base,
        adapters=adapters,
        weights=spec.weights(),
        out_dir=out_dir,
        emitter=emitter,
        progress=Progress(emitter, 0),
    )
    if method.preflight is not None:
        job.prepared = method.preflight(job)
    return job


def check_inputs(
    spec: MergeSpec, method: MergeMethod, models: list[Input], base: Input | None, out_dir: Path
) -> dict[int, LoraAdapter]:
    """The compatibility check (compat.py), in order; returns the parsed adapters."""
    compat.check_kinds(method, models, base)
    compat.check_output(out_dir, [*models, base])
    compat.check_not_quantized([base, *models])
    full = [m for m in models if isinstance(m, ModelDir)]
    reference = base if isinstance(base, ModelDir) else full[0]
    for model in full:
        if model is not reference:
            compat.check_against(reference, model)
    adapters = {i: LoraAdapter(m) for i, m in enumerate(models) if isinstance(m, AdapterDir)}
    compat.check_same_base(list(adapters.values()))
    together = method.name == "lora_fold"  # all its adapters go into one model, each scaled by its weight
    for i, adapter in adapters.items():
        assert isinstance(base, ModelDir)
        weight = spec.weights()[i] if together else 1.0
        compat.check_adapter(base, adapter, weight, alone=not together or len(models) == 1)
    tokenizers.check_tokenizer_settings(spec, models)
    if base is not None and not (method.needs_base or method.uses_base) and not adapters:
        log.info(f"base_model is not used by {method.name} (no adapters to fold into it)")
    return adapters


def emit_artifact(emitter: EventEmitter, out_dir: Path, method: MergeMethod) -> None:
    if method.output == "adapter":
        name, digest_of = "adapter", out_dir / "adapter_model.safetensors"
    else:
        index = out_dir / INDEX_NAME
        name, digest_of = "model", index if index.is_file() else out_dir / SINGLE_NAME
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    emitter.artifact(
        name=name, artifact_kind=name, location=str(out_dir), bytes=size, sha256=file_sha256(digest_of)
    )
