"""The checks of a new job that read its input files without loading weights: a merge's
compatibility (from config files and safetensors headers) and whether a calibration set can hold
the tokens asked for. The launch path runs them after the spec is built (``jobs.launch.rules``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from jobs.data import preview
from jobs.launch.types import LaunchRefused, Loc
from jobs.models import Job
from trainers import estimate
from trainers.quantize import registry as quantize_methods
from trainers.spec import DatasetRef, SpecError

# Tokens a chat template and end-of-text may add per calibration row, at most (a generous bound).
CALIBRATION_ROW_OVERHEAD = 64
# A calibration file this many bytes per token asked for fills the windows with any tokenizer.
CLEARLY_ENOUGH_BYTES_PER_TOKEN = 16
MIN_CALIBRATION_SAMPLES = 4  # GptqParams.calibration_samples' lower bound


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
    """LaunchRefused for a calibration dataset that cannot fill the windows a calibrated method (GPTQ)
    asks for, counted as the trainer counts them (``trainers.quantize.calibration``: the model's
    tokenizer over the rows as rendered for training), and worded in the quantize form's labels. A
    dataset whose size alone rules out a shortfall (more than CLEARLY_ENOUGH bytes per token asked) is
    not tokenized."""
    if not quantize_methods.get(spec["method"]).calibrated or spec.get("calibration") is None:
        return
    dataset = job.inputs.get(role="calibration").dataset
    p = spec[spec["method"]]
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
    raise LaunchRefused.at(("calibration",), message)


def check_group_size(spec: dict) -> None:
    """Every weight row must split into whole groups (SmolLM2's 576 columns take 64, not 128): told
    from the model's config.json before the job queues, in the quantize form's labels."""
    params = spec.get(spec["method"]) or {}
    group, path = params.get("group_size"), spec["model"].get("path")
    config = estimate.read_config(path) if group and path else None
    shape = estimate.shape_from_config(config) if config else None
    if shape is None:
        return
    columns = sorted({columns for _name, columns, _rows in shape.block_linears()})
    if all(c % group == 0 for c in columns):
        return
    fits = math.gcd(*columns) & -math.gcd(*columns)  # the largest power of two dividing them all
    message = (
        f"{spec['model']['name']}'s layers have {' and '.join(map(str, columns))} input columns, which "
        f"groups of {group} do not divide; set Group size to {min(fits, 1024)} or another power of two "
        "that divides them"
    )
    raise LaunchRefused.at((spec["method"], "group_size"), message)


def _calibration_tokens(job: Job, spec: dict, needed: int) -> int | None:
    """Tokens the calibration rows give, up to ``needed``; None when the tokenizer cannot be read."""
    from trainers.quantize.calibration import calibration_texts  # the tokenizer's stack, on demand

    try:
        tokenizer = preview.load_tokenizer(job.inputs.get(role="base").model)
    except preview.PreviewUnavailable:
        return None
    seed = spec[spec["method"]].get("seed", 0)
    texts, special, _source = calibration_texts(tokenizer, DatasetRef(**spec["calibration"]), seed)
    eos = 1 if tokenizer.eos_token_id is not None else 0
    tokens = 0
    for text in texts:
        tokens += len(tokenizer(text, add_special_tokens=special)["input_ids"]) + eos
        if tokens >= needed:
            break
    return tokens


def check_quantize_budget(spec: dict) -> None:
    """A mixed precision size budget no choice of widths meets, from the model's config.json (the
    layers' shapes; no weights read), refused at the budget's field before the job queues."""
    if spec["method"] != "mixed_precision":
        return
    from trainers.quantize.budget import budget_field, check_budget
    from trainers.quantize.params_mixed import MixedParams

    path = spec["model"].get("path")
    config = estimate.read_config(path) if path else None
    shape = estimate.shape_from_config(config) if config else None
    if shape is None:
        return
    params = MixedParams.model_validate(spec["mixed_precision"])
    shapes = {
        f"{layer}.{name}": (rows, columns)
        for layer in range(shape.layers)
        for name, columns, rows in shape.block_linears()
    }
    try:
        check_budget(params, shapes, list(spec.get("outputs", [])))
    except SpecError as exc:
        message = str(exc).split(": ", 1)[1]
        raise LaunchRefused.at(("mixed_precision", budget_field(params)), message) from None
