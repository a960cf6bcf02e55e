"""How long a curate job will take, before it runs: rows × the steps asked for → seconds, per step.

Like ``trainers.estimate`` for training, from what is known without reading the data or any weights:
the rows of each dataset, their size on disk (about four bytes a token), the models' config.json
and the device of the compute profile. Model steps (embeddings, fit) are forward passes, 2 FLOPs per
weight of the blocks and the output head per token, at the device's usable rate; the other steps
are rates measured on one core of the shared development machine (bench/curate_throughput.py,
bench/curate_quality.py, docs/benchmarks.md "Curate"), deliberately on the slow side. An
approximation meant to tell minutes from days, not to replace a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainers import estimate
from trainers.curate.diversity import MAX_TOKENS as EMBED_TOKENS
from trainers.spec_curate import CurateSpec

BYTES_PER_TOKEN = 4.0  # English text in JSON lines, tokens of a BPE vocabulary
SCORE_ROWS_PER_SECOND = 200.0  # reading, normalising, quality checks, MinHash LSH (one core)
LANGUAGE_ROWS_PER_SECOND = 3000.0  # py3langid on a paragraph
LABEL_ROW_FOLDS_PER_SECOND = 600.0  # TF-IDF + logistic regression, per row and fold, then cleanlab
MINILM_FLOPS_PER_TOKEN = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)  # the default embedder's blocks
TFIDF_ROWS_PER_SECOND = 400.0  # TF-IDF, truncated SVD to 128 dimensions, k-center (bench/curate_quality.py)
STARTUP_SECONDS = 20.0


@dataclass(frozen=True)
class CurateEstimate:
    rows: int
    tokens_per_row: float
    parts: tuple[tuple[str, float], ...]  # (spec field of the step, seconds), slowest first

    @property
    def seconds(self) -> float:
        return STARTUP_SECONDS + sum(seconds for _step, seconds in self.parts)


def forward_flops_per_token(model_dir: str | None) -> float | None:
    """2 FLOPs per weight that multiplies (the blocks' linear layers; a decoder's output head too)."""
    config = estimate.read_config(model_dir) if model_dir else None
    shape = estimate.shape_from_config(config) if config else None
    if shape is None:
        return None
    blocks = shape.layers * sum(i * o for _name, i, o in shape.block_linears())
    head = shape.vocab_size * shape.hidden if shape.family == "decoder" else 0
    return 2.0 * (blocks + head)


def tokens_per_row(spec: CurateSpec, rows: int) -> float:
    size = sum(Path(ref.path).stat().st_size for ref in spec.datasets if Path(ref.path).exists())
    return size / BYTES_PER_TOKEN / max(rows, 1)


def curate_time(spec: CurateSpec, device: estimate.Device) -> CurateEstimate:
    rows = sum(spec.dataset_rows)
    tokens = tokens_per_row(spec, rows)
    parts = [("datasets", rows / SCORE_ROWS_PER_SECOND)]  # reading and scoring every row
    if spec.quality and spec.quality.languages:
        parts.append(("quality", rows / LANGUAGE_ROWS_PER_SECOND))
    embeds = spec.diversity is not None or (spec.labels is not None and spec.labels.features == "embeddings")
    if embeds:
        per_token = forward_flops_per_token(spec.embedder.path if spec.embedder else None)
        parts.append(
            (
                "diversity",
                rows * min(tokens, EMBED_TOKENS) * (per_token or MINILM_FLOPS_PER_TOKEN) / device.flops,
            )
        )
    if spec.labels:
        parts.append(("labels", rows * spec.labels.folds / LABEL_ROW_FOLDS_PER_SECOND))
    if spec.fit:
        per_token = forward_flops_per_token(spec.tokenizer.path) if spec.tokenizer else None
        if per_token:
            parts.append(("fit", rows * min(tokens, spec.fit.max_tokens) * per_token / device.flops))
    if spec.influence:
        parts.append(("influence", influence_seconds(spec, rows, tokens, device)))
    if spec.difficulty:
        parts.append(("difficulty", rows * spec.difficulty.folds / LABEL_ROW_FOLDS_PER_SECOND))
    if spec.diversity and spec.diversity.features == "tfidf":
        parts = [part for part in parts if part[0] != "diversity"]  # no model: TF-IDF and an SVD
        parts.append(("diversity", rows / TFIDF_ROWS_PER_SECOND))
    return CurateEstimate(rows, tokens, tuple(sorted(parts, key=lambda part: -part[1])))


def influence_seconds(spec: CurateSpec, rows: int, tokens: float, device: estimate.Device) -> float:
    """LESS: a forward and backward pass per row (3 forwards' worth) plus the projection; CoLoR-Filter:
    two forward passes per row (adapter off and on); both, the LoRA steps before (3 forwards each)."""
    step = spec.influence
    per_token = forward_flops_per_token(spec.tokenizer.path) if spec.tokenizer else None
    if not per_token:
        return 0.0
    per_row = min(tokens, step.max_tokens) * per_token
    passes = 2.0 if step.method == "color_filter" else 3.0
    return (rows * passes + step.train_steps * 3.0) * per_row / device.flops


# What to change when a step makes the job too long, in the form's and the API's words.
REMEDIES = {
    "diversity": "turn off the varied selection (diversity), or run on a GPU profile",
    "fit": "lower fit.max_tokens, turn off fit, or run on a GPU profile",
    "influence": "lower influence.max_tokens, curate fewer rows at a time, or run on a GPU profile",
    "difficulty": "use fewer folds (difficulty.folds) or turn off the difficulty step",
    "labels": "use fewer folds (labels.folds) or turn off the label check",
    "datasets": "curate fewer rows at a time (split the dataset)",
    "quality": "leave out the language filter, or curate fewer rows at a time",
}


def too_long(found: CurateEstimate, limit_seconds: int, profile: str) -> str | None:
    """Why the job cannot finish within its time limit, naming what to change; None when it can."""
    if found.seconds <= limit_seconds:
        return None
    step, slowest = found.parts[0]
    shares = ", ".join(f"{name} {human_seconds(seconds)}" for name, seconds in found.parts if seconds >= 1)
    return (
        f"this curation of {found.rows:,} rows would take about {human_seconds(found.seconds)} ({shares}), "
        f"longer than the {human_seconds(limit_seconds)} an attempt may run on {profile}; "
        f"{REMEDIES[step]}"
    )


def human_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
