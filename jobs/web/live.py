"""What the job page shows while a job runs: progress, charts, log tail, samples, attempts.

Built for the page and for its live fragment, which htmx polls until the job has ended. The
number of queries does not grow with the run: metrics come downsampled from the database
(``metric_series``), logs and samples are the newest few events.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.utils.safestring import SafeString

from jobs.launch.grpo_checks import SAMPLING_OBJECTIVES
from jobs.models import Attempt, Event, Job
from jobs.web import metric_series, throughput
from jobs.web.charts import line_chart
from jobs.web.classifier_report import classifier_report
from jobs.web.evaluation_report import gate_report, harness_table, retention_report
from jobs.web.text import human_duration
from trainers.evaluation.texts import EVAL_TEXTS

LOG_TAIL = 50
LOSS_SERIES = ("train/loss", "eval/loss")
REWARD_SERIES = ("train/reward", "eval/reward")
LEARNING_RATE = "train/learning_rate"
# Metrics where lower is better; the rest (accuracy, F1…) are better higher.
LOWER_IS_BETTER = ("loss", "perplexity", "grad_norm", "nll", "error", "bytes", "seconds")
METRIC_TITLES = {
    "eval/perplexity": "Perplexity (held-out)",
    "eval/accuracy": "Accuracy (held-out)",
    "eval/macro_f1": "Macro-F1 (held-out)",
    "train/grad_norm": "Gradient norm",
    LEARNING_RATE: "Learning rate",
}
EVALUATE_SIDES = {0: "base", 1: "candidate"}
# A quantize job's measurements, per output format (``size_bytes_gguf_q4_0``).
OUTPUT_TITLES = {"torchao": "transformers (torchao)", "gguf_q8_0": "GGUF Q8_0", "gguf_q4_0": "GGUF Q4_0"}
OUTPUT_TITLES |= {"gguf_q4_k_m": "GGUF Q4_K_M", "gguf_q5_k_m": "GGUF Q5_K_M", "gguf_q6_k": "GGUF Q6_K"}
MEASURE_TITLES = {
    "perplexity": "Perplexity",
    "size_bytes": "Size on disk",
    "seconds": "Time to write",
    "peak_rss_bytes": "Peak memory",
    "quantize_seconds": "Time to quantize",
    "compression_ratio": "Compression (original ÷ quantized)",
}


def metric_title(name: str) -> str:
    if name in METRIC_TITLES:
        return METRIC_TITLES[name]
    metric = name.partition("/")[2]
    for measure, title in MEASURE_TITLES.items():
        if metric == measure:
            return title
        if metric.startswith(measure + "_") and metric[len(measure) + 1 :] in OUTPUT_TITLES:
            return f"{title}, {OUTPUT_TITLES[metric[len(measure) + 1 :]]}"
    split, _, metric = name.partition("/")
    return f"{metric.replace('_', ' ').capitalize()} ({split})" if metric else name


def lower_is_better(name: str) -> bool:
    return any(word in name.rsplit("/", 1)[-1] for word in LOWER_IS_BETTER)


def reward_series(job: Job) -> tuple[str, ...]:
    """The series of a job that scores answers with rewards (grpo, rejection_sampling, refusal_aware),
    drawn together: the mean reward in training and on held-out prompts, then each chosen reward's
    mean (``reward_<name>``, as the trainer reports TRL's ``rewards/<name>/mean``)."""
    if job.objective not in SAMPLING_OBJECTIVES:
        return ()
    chosen = (job.params.get(job.objective) or {}).get("rewards") or []
    names = [c["name"] if isinstance(c, dict) else str(c) for c in chosen]
    return (
        *REWARD_SERIES,
        *(f"{split}/reward_{n}" for n in dict.fromkeys(names) for split in ("train", "eval")),
    )


def metric_charts(
    series: dict[str, list[tuple[int, float]]], rewards: tuple[str, ...] = ()
) -> list[tuple[str, SafeString]]:
    """(title, SVG) per chart: losses together, then the rewards together (``rewards``: their series'
    names, where the job has them), then every other metric with two points or more."""
    charts = []
    rates = throughput.names(series)  # several processes: one line per rank, and all of them
    for title, names in (("Loss", LOSS_SERIES), ("Reward", rewards), ("Tokens per second", rates)):
        drawn = {name: series[name] for name in names if name in series}
        if drawn:
            charts.append((title, line_chart(drawn, title=title)))
    grouped = {*LOSS_SERIES, *rewards, *rates}
    others = sorted((name for name in series if name not in grouped), key=lambda n: (n == LEARNING_RATE, n))
    for name in others:
        if len(series[name]) >= 2:
            title = metric_title(name)
            charts.append((title, line_chart({name: series[name]}, height=180, title=title)))
    return charts


def latest_metrics(series: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """Per metric: its newest value and step, and its best value so far."""
    rows = []
    rates = throughput.names(series)  # in their own table (throughput.table)
    for name in sorted(series):
        points = series[name]
        if not points or name in rates:
            continue
        pick = min if lower_is_better(name) else max
        rows.append(
            {
                "name": name,
                "title": metric_title(name),
                "step": points[-1][0],
                "value": points[-1][1],
                "best": pick(value for _step, value in points),
                "lower_is_better": lower_is_better(name),
            }
        )
    return rows


def evaluation_results(series: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """An evaluate job's metrics: base (step 0) and candidate (step 1), and the change."""
    rows = []
    for name in sorted(series):
        if "." in name:
            continue  # a harness task's metric: in its own table (jobs/web/evaluation_report.py)
        values = dict(series[name])
        base, candidate = values.get(0), values.get(1)
        change = candidate - base if base is not None and candidate is not None else None
        better = None
        if change:
            better = (change < 0) == lower_is_better(name)
        rows.append(
            {
                "name": name,
                "title": metric_title(name),
                "base": base,
                "candidate": candidate,
                "change": change,
                "better": better,
            }
        )
    return rows


def live_context(job: Job) -> dict:
    series = metric_series.for_job(job.pk)
    attempts = attempt_timeline(job)
    is_evaluation = job.kind == Job.Kind.EVALUATE
    # Evaluate and quantize jobs measure twice (step 0: before or base, step 1: after or candidate):
    # a table of the two, not curves of two points.
    # A gated merge too: the model it is compared with, then the merged one (trainers/merge/gate_eval.py).
    gated_merge = job.kind == Job.Kind.MERGE and "gate" in job.params
    as_table = is_evaluation or job.kind == Job.Kind.QUANTIZE or gated_merge
    return {
        "job": job,
        # A cancelled job keeps updating until its process has really stopped.
        "polling": job.is_active or any(a.status in Attempt.LIVE for a in attempts),
        "percent": round(job.progress * 100),
        "eta_text": human_duration(job.eta_seconds),
        "charts": [] if as_table else metric_charts(series, reward_series(job)),
        "latest_metrics": [] if as_table else latest_metrics(series),
        "throughput": [] if as_table else throughput.table(series),
        "classifier": classifier_report(job, series),
        "retention": retention_report(job, series),
        "gate": gate_report(job),
        "harness": harness_table(job, series),
        "evaluation": evaluation_results(series) if as_table else [],
        "measured_on": measured_on(job) if as_table and not gated_merge else None,
        "log_lines": log_tail(job),
        "samples": evaluation_samples(job) if is_evaluation else latest_samples(job),
        "attempts": attempts,
    }


def measured_on(job: Job) -> dict:
    """What an evaluate or quantize job measured perplexity (or accuracy) on, in words."""
    row = job.inputs.filter(role="dataset").select_related("dataset").first()
    if row is None or row.dataset is None:
        count = len(EVAL_TEXTS)
        text = f"Hone's {count} built-in English passages (no evaluation data chosen)"
        return {"dataset": None, "text": text}
    dataset = row.dataset
    return {"dataset": dataset, "text": f"“{dataset.name}” ({dataset.row_count:,} rows, {dataset.task})"}


def _newest_events(job: Job, kind: str, limit: int) -> list[Event]:
    events = Event.objects.filter(attempt__job=job, kind=kind).select_related("attempt")
    return list(events.order_by("-attempt__number", "-seq")[:limit])


def log_tail(job: Job) -> list[Event]:
    """The last log lines across attempts, newest last."""
    return _newest_events(job, "log", LOG_TAIL)[::-1]


def latest_samples(job: Job) -> list[dict]:
    """The generations of the most recent step that produced samples."""
    recent = _newest_events(job, "sample", 20)
    if not recent:
        return []
    newest = recent[0]
    step = newest.payload.get("step")
    same = [e for e in recent if e.attempt_id == newest.attempt_id and e.payload.get("step") == step]
    return [e.payload for e in reversed(same)]


def evaluation_samples(job: Job) -> list[dict]:
    """An evaluation's generations paired by prompt: {prompt, base, candidate}."""
    by_prompt: dict[str, dict] = {}
    for event in reversed(_newest_events(job, "sample", 200)):
        payload = event.payload
        side = payload.get("model") or EVALUATE_SIDES.get(payload.get("step"), "candidate")
        entry = by_prompt.setdefault(str(payload.get("prompt", "")), {"prompt": payload.get("prompt", "")})
        entry[side] = payload.get("output", "")
    return [{**entry, "paired": True} for entry in by_prompt.values()]


CHECKPOINT_STEP = re.compile(r"checkpoint-(\d+)$")


def checkpoint_step(path: str) -> int | None:
    """400 for '…/checkpoints/checkpoint-400'; None for anything else."""
    found = CHECKPOINT_STEP.search(Path(path).name) if path else None
    return int(found.group(1)) if found else None


def attempt_timeline(job: Job) -> list[Attempt]:
    """The job's attempts, each with a one-line story: how it started, how it ended, why."""
    attempts = list(job.attempts.all())
    for attempt in attempts:
        attempt.resumed_step = checkpoint_step(attempt.resumed_from)
        attempt.resumed_label = Path(attempt.resumed_from).name if attempt.resumed_from else ""
        attempt.story = attempt_story(attempt)
        ran = None
        if attempt.started_at and attempt.finished_at:
            ran = (attempt.finished_at - attempt.started_at).total_seconds()
        attempt.duration_text = human_duration(ran)
    return attempts


def attempt_story(attempt: Attempt) -> str:
    """'preempted, resumed from step 400', 'failed (exit code 1): …', 'running'."""
    parts = []
    if attempt.resumed_from:
        step = checkpoint_step(attempt.resumed_from)
        parts.append(f"resumed from step {step:,}" if step is not None else "resumed from a checkpoint")
    else:
        parts.append("started from scratch" if attempt.number > 1 else "first attempt")
    ended = {
        "preempted": "preempted (the node was reclaimed); the next attempt resumes from the last checkpoint",
        "failed": "failed" + (f" (exit code {attempt.exit_code})" if attempt.exit_code is not None else ""),
        "cancelled": "stopped because the job was cancelled",
        "succeeded": "finished",
        "running": "running",
        "starting": "waiting to start",
    }
    parts.append(ended.get(attempt.status, attempt.status))
    return ", ".join(parts)
