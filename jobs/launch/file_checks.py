"""The checks of a new job that read its input files without loading weights: a merge's
compatibility (from config files and safetensors headers) and whether a calibration set can hold
the tokens asked for. The launch path runs them after the spec is built (``jobs.launch.rules``).
"""

from __future__ import annotations

import re
from pathlib import Path

from jobs.launch.types import LaunchRefused, Loc
from jobs.models import Job
from trainers.spec import SpecError

# Tokens a chat template and end-of-text may add per calibration row, at most (a generous bound).
CALIBRATION_ROW_OVERHEAD = 64


def _input_at(message: str) -> Loc:
    """Which input a merge compatibility message names first (``models[1] 'x'``, ``base_model``)."""
    found = re.search(r"\bmodels\[(\d+)\]|\bbase_model\b", message)
    if found is None:
        return ("models",)
    return ("models", int(found.group(1))) if found.group(1) else ("base_model",)


def check_merge_files(spec: dict) -> None:
    """The merge's compatibility check (trainers/merge/compat.py) from config files and
    safetensors headers, no weights loaded; LaunchRefused naming the first offending input.
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
        raise LaunchRefused.at(_input_at(str(exc)), str(exc)) from None
    finally:
        close_all(described)


def check_calibration_size(job: Job, spec: dict) -> None:
    """LaunchRefused for a calibration dataset that cannot hold the tokens GPTQ asks for, by a bound that
    never refuses one that can: every byte of the file one token, plus a template per row. The
    exact count (with the model's tokenizer) is the trainer's, before it quantizes."""
    if spec["method"] != "gptq_int4" or spec.get("calibration") is None:
        return
    dataset = job.inputs.get(role="calibration").dataset
    p = spec["gptq_int4"]
    needed = p["calibration_samples"] * p["calibration_seq_len"]
    at_most = dataset.bytes + dataset.row_count * CALIBRATION_ROW_OVERHEAD
    if at_most < needed:
        message = (
            f"{dataset.name} ({dataset.row_count} rows, {dataset.bytes:,} bytes) holds at most "
            f"about {at_most:,} tokens, but calibration_samples × calibration_seq_len asks for {needed:,}; "
            "add rows, or lower calibration_samples or calibration_seq_len"
        )
        raise LaunchRefused.at(("calibration",), message)
