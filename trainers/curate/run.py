"""The curate job: score every row, drop what the steps say, select within the budget, write.

Phases, each reported as progress (rows × phases, with an ETA): score (duplicates, contamination,
quality; streamed in chunks of ``chunk_rows``), labels (classification: cleanlab), difficulty
(classification: out-of-fold margins), fit (loss under the base model), influence (toward the target
set: LESS or CoLoR-Filter), select (the budget: the most influential rows, k-center greedy or
cluster-balanced sampling on embeddings or TF-IDF, or a seeded random sample), write.
Artifacts: ``curated`` (artifact_kind "dataset": the platform registers it as a new dataset with its
lineage), ``scores`` (the per-row parquet table) and ``summary`` (JSON: counts and examples per
reason, the budget).
"""

from __future__ import annotations

import logging
import math
import time
from itertools import islice
from pathlib import Path

import numpy as np

from trainers.curate import table, texts
from trainers.curate.dedup import Deduplicator
from trainers.curate.difficulty import out_of_fold_margins, tfidf_space
from trainers.curate.diversity import Embedder, cluster_balanced, k_center_greedy
from trainers.curate.fit import FitScorer, band, prompt_of
from trainers.curate.influence import most_influential, rank_toward_target
from trainers.curate.labels import find_label_problems, tfidf_features
from trainers.curate.quality import judge, token_counter
from trainers.curate.table import Row, input_rows
from trainers.data import iter_rows
from trainers.evaluation.report import emit_artifact, write_report
from trainers.events import EventEmitter
from trainers.spec_curate import CurateSpec

log = logging.getLogger("trainers")


class Progress:
    """One bar over all phases: step = phase × rows + rows done in this phase."""

    def __init__(self, emitter: EventEmitter, rows: int, phases: int) -> None:
        self.emitter, self.rows, self.total = emitter, max(rows, 1), max(rows, 1) * phases
        self.phase, self.started = 0, time.monotonic()

    def next_phase(self, name: str) -> None:
        self.emitter.log(f"curate: {name}")
        if self.phase or name != "score":
            self.phase += 1

    def done(self, rows_done: int) -> None:
        step = min(self.total, self.phase * self.rows + rows_done)
        elapsed = time.monotonic() - self.started
        eta = elapsed * (self.total - step) / step if step else None
        self.emitter.progress(
            step=step,
            total=self.total,
            epoch=0.0,
            eta_seconds=eta,
            samples_per_second=step / elapsed if elapsed > 0 else None,
        )


def run_curate(spec: CurateSpec, emitter: EventEmitter) -> None:
    phases = [
        "score",
        *(["labels"] if spec.labels else []),
        *(["difficulty"] if spec.difficulty else []),
        *(["fit"] if spec.fit else []),
        *(["influence"] if spec.influence else []),
        "select",
        "write",
    ]
    total = count_rows(spec)
    emitter.started(
        total_steps=total * len(phases),
        epochs=0,
        trainable_params=0,
        total_params=0,
        device="cpu",
        model=(spec.embedder.name if spec.embedder else "all-MiniLM-L6-v2"),
    )
    progress = Progress(emitter, total, len(phases))
    progress.next_phase("score")
    rows = score_rows(spec, progress)
    embeddings = Embeddings(spec)
    if spec.labels:
        progress.next_phase("labels")
        check_labels(spec, rows, embeddings)
        progress.done(len(rows))
    if spec.difficulty:
        progress.next_phase("difficulty")
        check_difficulty(spec, rows)
        progress.done(len(rows))
    if spec.fit:
        progress.next_phase("fit")
        check_fit(spec, rows, progress)
    if spec.influence:
        progress.next_phase("influence")
        rank_toward_target(spec, rows, progress.done)
    target = spec.budget.rows(len(rows))
    progress.next_phase("select")
    select(spec, rows, target, embeddings, progress)
    progress.next_phase("write")
    write_outputs(spec, rows, target, emitter)
    progress.done(len(rows))


def count_rows(spec: CurateSpec) -> int:
    if len(spec.dataset_rows) == len(spec.datasets):
        return sum(spec.dataset_rows)
    return sum(1 for _ in input_rows(spec))


def _chunks(iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def score_rows(spec: CurateSpec, progress: Progress | None, limit: int | None = None) -> list[Row]:
    """Each row's (or the first ``limit``'s) duplicates, contamination and quality, in chunks."""
    dedup = Deduplicator(spec.dedup) if spec.dedup else None
    if dedup and spec.eval_set:
        ref = spec.eval_set
        for n, chunk in enumerate(_chunks(iter_rows(Path(ref.path), ref.format, ref.task), spec.chunk_rows)):
            dedup.index_eval([texts.text_of(row, ref.task) for row in chunk], n * spec.chunk_rows)
    count = token_counter(spec.tokenizer) if spec.quality else None
    rows: list[Row] = []
    for chunk in _chunks(islice(input_rows(spec), limit), spec.chunk_rows):
        strings = [texts.text_of(row, spec.task) for _d, _r, row in chunk]
        states = [Row(d, r, texts.preview(text)) for (d, r, _row), text in zip(chunk, strings, strict=True)]
        for state, (_d, _r, row) in zip(states, chunk, strict=True):
            if "label" in row:
                state.label = str(row["label"])
        if spec.quality and count:
            apply_quality(
                spec, states, strings, [texts.answer_of(row, spec.task) for *_, row in chunk], count
            )
        if dedup:
            names = [f"datasets[{s.dataset}] row {s.row}" for s in states]
            for state, match in zip(
                states, dedup.check(names, strings, [s.alive for s in states]), strict=True
            ):
                if match:
                    state.similarity = round(match.similarity, 4)
                    state.drop(match.reason, f"{match.similarity:.0%} like {match.of}")
        rows += states
        if progress:
            progress.done(len(rows))
    return rows


def preview(spec: CurateSpec, limit: int) -> dict:
    """What the cheap steps (quality, duplicates, contamination) drop among the first ``limit`` rows,
    and the budget as the same share of them, drawn at random: the page shows it before a job runs.
    Label problems and the diversity selection need the whole data and a model: not previewed."""
    rows = score_rows(spec, None, limit)
    total = count_rows(spec)
    target = round(spec.budget.rows(total) * len(rows) / max(total, 1))
    alive = [i for i, row in enumerate(rows) if row.alive]
    if len(alive) > target:
        chosen = set(np.random.default_rng(spec.seed).choice(alive, size=target, replace=False).tolist())
        for i in alive:
            if i not in chosen:
                rows[i].drop("over_budget", "over the budget (the preview draws at random)")
    return table.summary(spec, rows, target) | {"previewed_rows": len(rows), "total_rows": total}


def apply_quality(spec: CurateSpec, states: list[Row], texts: list[str], answers: list, count) -> None:
    for state, text, answer, tokens in zip(states, texts, answers, count(texts), strict=True):
        verdict = judge(spec.quality, tokens, text, answer)
        state.tokens, state.repetition = verdict.tokens, round(verdict.repetition, 4)
        state.language = verdict.language
        if verdict.reason:
            state.drop(verdict.reason, verdict.detail)


class Embeddings:
    """Vectors of rows, computed once per row (labels and selection may both ask), lazily."""

    def __init__(self, spec: CurateSpec) -> None:
        self.spec, self.embedder, self.vectors = spec, None, {}

    def of(self, rows: list[Row], wanted: list[int], progress: Progress | None = None) -> np.ndarray:
        missing = [i for i in wanted if i not in self.vectors]
        if missing:
            self.embedder = self.embedder or Embedder(self.spec.embedder)
            texts = texts_of(self.spec, missing)
            for n, start in enumerate(range(0, len(missing), self.spec.chunk_rows)):
                part = self.embedder.embed(texts[start : start + self.spec.chunk_rows])
                self.vectors.update(zip(missing[start : start + len(part)], part, strict=True))
                if progress:  # embedding is the first half of the select phase, k-center the second
                    progress.done(min(len(missing), (n + 1) * self.spec.chunk_rows) // 2)
        return np.stack([self.vectors[i] for i in wanted]) if wanted else np.zeros((0, 1), np.float32)


def texts_of(spec: CurateSpec, wanted: list[int]) -> list[str]:
    """The texts of the rows at these global positions, read again from the inputs."""
    keep = set(wanted)
    found = {i: texts.text_of(row, spec.task) for i, (*_, row) in enumerate(input_rows(spec)) if i in keep}
    return [found[i] for i in wanted]


def check_labels(spec: CurateSpec, rows: list[Row], embeddings: Embeddings) -> None:
    alive = [i for i, row in enumerate(rows) if row.alive]
    labels = [row["label"] for i, (*_, row) in enumerate(input_rows(spec)) if rows[i].alive]
    if spec.labels.features == "embeddings":
        features = embeddings.of(rows, alive)
    else:
        features = tfidf_features(texts_of(spec, alive))
    report = find_label_problems(features, labels, spec.labels.folds, spec.seed)
    for n, i in enumerate(alive):
        row, given, better = rows[i], labels[n], report.suggested[n]
        row.label_quality, row.suggested_label = round(float(report.quality[n]), 4), str(better)
        if not report.issues[n]:
            continue
        detail = f"labelled {given!s}, the cross-validated model says {better!s}"
        if spec.labels.action == "drop":
            row.drop("label_issue", detail)
        elif spec.labels.action == "relabel":
            row.reason, row.detail, row.new_label = "relabelled", f"relabelled {given!s} → {better!s}", better
        else:
            row.reason, row.detail = "label_suspect", detail
    log.info("curate: %d suspected label problems among %d rows", int(report.issues.sum()), len(alive))


def check_difficulty(spec: CurateSpec, rows: list[Row]) -> None:
    """Each surviving row's out-of-fold margin; drop the hardest and the easiest shares asked for."""
    alive = [i for i, row in enumerate(rows) if row.alive]
    labels = [  # a label the label step corrected counts as corrected
        row["label"] if rows[i].new_label is None else rows[i].new_label
        for i, (*_, row) in enumerate(input_rows(spec))
        if rows[i].alive
    ]
    features = tfidf_features(texts_of(spec, alive))
    margins = out_of_fold_margins(features, labels, spec.difficulty.folds, spec.seed)
    for i, margin in zip(alive, margins, strict=True):
        rows[i].margin = round(float(margin), 4)
    low, high = band(margins, spec.difficulty.drop_hardest_percent, spec.difficulty.drop_easiest_percent)
    for i, margin in zip(alive, margins, strict=True):
        if margin < low:
            rows[i].drop("hard_to_tell", f"margin {margin:.3f}, under {low:.3f}: reads like another label")
        elif margin > high:
            rows[i].drop("too_obvious", f"margin {margin:.3f}, over {high:.3f}")


def check_fit(spec: CurateSpec, rows: list[Row], progress: Progress) -> None:
    """Each surviving row's response loss under the base model, then the GRAPE rule and the band."""
    scorer = FitScorer(spec.tokenizer, spec.fit.max_tokens)
    alive = {i for i, row in enumerate(rows) if row.alive}
    prompts: dict[str, list[int]] = {}
    chunk: list[tuple[int, dict]] = []
    for i, (*_, raw) in enumerate(input_rows(spec)):
        if i in alive:
            chunk.append((i, raw))
            prompts.setdefault(texts.normalise(prompt_of(raw, spec.task)), []).append(i)
        if len(chunk) == spec.chunk_rows or (i == len(rows) - 1 and chunk):
            for (n, _), loss in zip(chunk, scorer.losses([r for _, r in chunk], spec.task), strict=True):
                rows[n].fit_loss = None if math.isnan(loss) else round(loss, 4)
            progress.done(i + 1)
            chunk = []
    if spec.fit.best_response_per_prompt and spec.task != "text":
        for group in (g for g in prompts.values() if len(g) > 1):
            best = min(group, key=lambda n: rows[n].fit_loss if rows[n].fit_loss is not None else math.inf)
            for n in group:
                if n != best:
                    of = f"datasets[{rows[best].dataset}] row {rows[best].row}"
                    rows[n].drop("worse_fit", f"loss {rows[n].fit_loss} vs {rows[best].fit_loss} of {of}")
    drop_outside_band(
        spec, rows, [n for n in sorted(alive) if rows[n].alive and rows[n].fit_loss is not None]
    )


def drop_outside_band(spec: CurateSpec, rows: list[Row], scored: list[int]) -> None:
    """Drop the easiest and the hardest shares of the scored rows (their loss percentiles)."""
    if not scored:
        return
    losses = np.array([rows[n].fit_loss for n in scored])
    low, high = band(losses, spec.fit.drop_easiest_percent, spec.fit.drop_hardest_percent)
    for n in scored:
        if rows[n].fit_loss < low:
            rows[n].drop("too_easy", f"loss {rows[n].fit_loss} per token, under {low:.3f}")
        elif rows[n].fit_loss > high:
            rows[n].drop("too_far", f"loss {rows[n].fit_loss} per token, over {high:.3f}")


def select(
    spec: CurateSpec, rows: list[Row], target: int, embeddings: Embeddings, progress: Progress
) -> None:
    """Within the budget: the diversity step on embeddings when asked, else a seeded random sample."""
    alive = [i for i, row in enumerate(rows) if row.alive]
    if len(alive) <= target:
        progress.done(len(rows))
        return
    if spec.influence:
        chosen = most_influential(rows, alive, target)
        how = "less influence toward the target set than the rows kept"
    elif spec.diversity:
        if spec.diversity.features == "tfidf":
            vectors = tfidf_space(texts_of(spec, alive), spec.seed)
        else:
            vectors = embeddings.of(rows, alive, progress)
        chosen, how = diverse_picks(spec, rows, alive, target, vectors)
    else:
        rng = np.random.default_rng(spec.seed)
        chosen = {alive[p] for p in rng.choice(len(alive), size=target, replace=False)}
        how = "not drawn in the random sample"
    for i in alive:
        if i not in chosen:
            rows[i].drop("over_budget", how)
    progress.done(len(rows))


def diverse_picks(
    spec: CurateSpec, rows: list[Row], alive: list[int], target: int, vectors: np.ndarray
) -> tuple[set[int], str]:
    """The rows (global positions) the diversity step keeps, and why the others were not."""
    step = spec.diversity
    if step.method == "cluster_balanced":
        picks, assigned = cluster_balanced(vectors, target, step.clusters_for(target), step.share, spec.seed)
        for i, cluster in zip(alive, assigned, strict=True):
            rows[i].cluster = int(cluster)
        return {alive[p] for p in picks}, f"not drawn in its cluster's {step.share} share"
    picks, gaps = k_center_greedy(vectors, target, spec.seed)
    for pick, gap in zip(picks, gaps, strict=True):
        rows[alive[pick]].pick_distance = round(float(gap), 4)
    return {alive[p] for p in picks}, "the k-center selection covered the data without it"


def write_outputs(spec: CurateSpec, rows: list[Row], target: int, emitter: EventEmitter) -> None:
    out = Path(spec.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = table.write_curated(spec, rows, out / "curated.jsonl")
    if written == 0:
        from trainers.formats import DataError

        raise DataError("no row is left after the steps; loosen them or raise the budget", file="datasets")
    emit_artifact(emitter, "curated", "dataset", out / "curated.jsonl")
    emit_artifact(emitter, "scores", "report", table.write_table(rows, out / "scores.parquet"))
    body = table.summary(spec, rows, target)
    emit_artifact(emitter, "summary", "report", write_report(out / "summary.json", "curate", body))
    for reason in body["reasons"]:
        emitter.log(f"curate: {reason['rows']} row(s) {reason['words']}")
