"""Greedy soup: average models one at a time, keeping each only if held-out perplexity improves.

Recipe 1 of the model-soups paper: score every model on held-out text, start the soup with the
best, then try the others from best to worst; a model joins the soup (a uniform average) only if
the soup's perplexity gets lower. Every candidate soup is written with the streaming merge and
scored from disk, so memory stays that of evaluating one model. LoRA adapters (with base_model)
are folded into full models first.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import MethodParams
from trainers.spec import DatasetRef, SpecError

if TYPE_CHECKING:
    from trainers.merge.engine import MergeJob

log = logging.getLogger("trainers")
TASKS = ("text", "instruction", "chat")


class GreedySoupParams(MethodParams):
    held_out: DatasetRef = Field(
        description="Held-out text, instruction or chat data to score each soup on (its eval file if any)."
    )
    max_texts: int = Field(200, ge=1, le=10_000, description="Score on at most this many held-out rows.")
    max_length: int = Field(256, ge=8, le=8192, description="Tokens scored per row; longer rows are cut.")


def row_text(row: dict, task: str) -> str:
    if task == "text":
        return row["text"]
    if task == "instruction":
        return "\n".join(part for part in (row["instruction"], row.get("input"), row["output"]) if part)
    return "\n".join(message["content"] for message in row["messages"])


def load_held_out(job: MergeJob) -> list[str]:
    """Preflight: the held-out texts, checked before any merging."""
    from trainers.data import DataError, file_sha256, load_rows

    ref: DatasetRef = job.params.held_out
    if ref.task not in TASKS:
        raise SpecError(
            f"params.held_out.task: greedy soup scores on {', '.join(TASKS)} data, not {ref.task!r}"
        )
    path = Path(ref.path)
    if not path.is_file():
        raise DataError("the held-out dataset file does not exist", file=str(path))
    if file_sha256(path) != ref.sha256:
        raise DataError("the file has changed since it was uploaded; upload it again", file=path.name)
    source = Path(ref.eval_path) if ref.eval_path else path
    rows = load_rows(source, ref.format, ref.task)[: job.params.max_texts]
    texts = [text for text in (row_text(row, ref.task) for row in rows) if text.strip()]
    if not texts:
        raise DataError("no held-out rows with text to score", file=source.name)
    return texts


def perplexity(model_dir: Path, texts: list[str], max_length: int) -> float:
    """The evaluate job's perplexity (token-weighted, windows of ``max_length``), so the numbers agree."""
    from trainers.evaluation.metrics import perplexity as held_out_perplexity

    return held_out_perplexity(model_dir, texts, max_length=max_length)


def run_greedy_soup(job: MergeJob) -> None:
    scratch = job.out_dir / ".greedy-soup"
    try:
        _cook(job, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _cook(job: MergeJob, scratch: Path) -> None:
    texts, n = job.prepared, len(job.models)
    dirs = [_ingredient_dir(job, i, scratch) for i in range(n)]
    scores = []
    for i, model_dir in enumerate(dirs):
        scores.append(perplexity(model_dir, texts, job.params.max_length))
        job.emitter.metric("perplexity", step=i, value=scores[-1], split="ingredients")
        log.info(f"{job.models[i].label}: held-out perplexity {scores[-1]:.4f}")
    order = sorted(range(n), key=scores.__getitem__)
    soup, best, best_dir = [order[0]], scores[order[0]], dirs[order[0]]
    for step, candidate in enumerate(order[1:], start=1):
        trial = soup + [candidate]
        trial_dir = _write_soup(job, trial, scratch / f"soup-{step}")
        score = perplexity(trial_dir, texts, job.params.max_length)
        job.emitter.metric("perplexity", step=step, value=score, split="soup")
        kept = score < best
        log.info(
            f"{'Adding' if kept else 'Leaving out'} {job.models[candidate].label}: soup perplexity "
            f"{score:.4f} vs {best:.4f}"
        )
        if kept:
            soup, best, best_dir = trial, score, trial_dir
    _finish(job, soup, best_dir)
    job.notes += [
        f"Greedy soup kept {len(soup)} of {n} models: {', '.join(job.spec.models[i].name for i in soup)}.",
        f"Held-out perplexity of the soup: {best:.4f}; of each model: "
        + ", ".join(f"{job.spec.models[i].name} {scores[i]:.4f}" for i in range(n))
        + ".",
    ]


def progress_steps(job: MergeJob) -> int:
    """Tensors written at most: each folded adapter, each candidate soup, and a lone model's copy."""
    return job.tensor_count() * (len(job.adapters) + len(job.models))


def _ingredient_dir(job: MergeJob, i: int, scratch: Path) -> Path:
    """A directory that loads as model i: its own, or the adapter folded into the base."""
    if i not in job.adapters:
        return job.models[i].path
    return _write_soup(job, [i], scratch / f"ingredient-{i}")


def _write_soup(job: MergeJob, members: list[int], out_dir: Path) -> Path:
    from trainers.merge.card import write_support_files
    from trainers.merge.engine import merge_tensors
    from trainers.merge.linear import LinearParams, merge_linear

    def uniform(tensors, base, weights, params, rng):
        return merge_linear(tensors, base, weights, LinearParams(normalize=True), rng)

    sources = [job.source(i) for i in members]
    merge_tensors(job, out_dir, uniform, sources, None, [1.0] * len(members))
    write_support_files(job, out_dir)
    return out_dir


def _finish(job: MergeJob, soup: list[int], best_dir: Path) -> None:
    """The best soup into ``out_dir``: moved if it was written here, else written from the one model."""
    if best_dir.parent != job.out_dir / ".greedy-soup" or not best_dir.name.startswith("soup-"):
        _write_soup(job, soup, job.out_dir)  # the soup is one model: write it in the output dtype
        return
    from trainers.merge.stream import remove_weights

    remove_weights(job.out_dir)
    for path in best_dir.glob("model*.safetensors*"):
        path.replace(job.out_dir / path.name)


METHOD = MergeMethod(
    name="greedy_soup",
    title="Greedy soup",
    help="Averages models one by one, keeping each only if held-out perplexity gets better.",
    paper="https://arxiv.org/abs/2203.05482",
    params=GreedySoupParams,
    min_models=2,
    weights="none",
    run=run_greedy_soup,
    preflight=load_held_out,
    steps=progress_steps,
)
