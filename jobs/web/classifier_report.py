"""A classification job's result on its page: fine-tuned against the frozen baseline, per class.

The trainer reports the frozen baseline (embeddings + logistic regression, trainers/baseline.py)
as ``baseline/accuracy`` and ``baseline/macro_f1`` before training, and after each evaluation a
log event with the labels, the confusion matrix and per-class precision and recall; this turns the
newest of them into what the page shows.
"""

from __future__ import annotations

from jobs.models import Event, Job


def classifier_report(job: Job, series: dict[str, list[tuple[int, float]]]) -> dict | None:
    if job.objective != "classification":
        return None
    newest = _newest(series)
    tuned, baseline = _confusion_events(job)
    if not newest and tuned is None:
        return None
    gain = None
    if "eval/macro_f1" in newest and "baseline/macro_f1" in newest:
        gain = newest["eval/macro_f1"] - newest["baseline/macro_f1"]
    return {
        "accuracy": newest.get("eval/accuracy"),
        "macro_f1": newest.get("eval/macro_f1"),
        "baseline_accuracy": newest.get("baseline/accuracy"),
        "baseline_macro_f1": newest.get("baseline/macro_f1"),
        "gain": gain,
        "worse": gain is not None and gain < 0,
        "classes": _classes(tuned, baseline),
        "matrix": _matrix(tuned),
    }


def _newest(series: dict[str, list[tuple[int, float]]]) -> dict[str, float]:
    names = ("eval/accuracy", "eval/macro_f1", "baseline/accuracy", "baseline/macro_f1")
    return {name: series[name][-1][1] for name in names if series.get(name)}


def _confusion_events(job: Job) -> tuple[dict | None, dict | None]:
    """The newest evaluation's confusion log payload and the baseline's (None where there is none)."""
    events = Event.objects.filter(attempt__job=job, kind="log", payload__has_key="confusion_matrix")
    tuned = baseline = None
    for event in events.order_by("-attempt__number", "-seq")[:20]:
        if event.payload.get("baseline"):
            baseline = baseline or event.payload
        else:
            tuned = tuned or event.payload
    return tuned, baseline


def _classes(tuned: dict | None, baseline: dict | None) -> list[dict]:
    source = tuned or baseline
    if not source:
        return []
    labels, matrix = source.get("labels", []), source.get("confusion_matrix", [])
    rows = []
    for i, label in enumerate(labels):
        rows.append({
            "label": label,
            "support": sum(matrix[i]) if i < len(matrix) else None,
            "precision": _at(tuned, "precision", i),
            "recall": _at(tuned, "recall", i),
            "baseline_recall": _at(baseline, "recall", i),
        })
    return rows


def _at(payload: dict | None, key: str, i: int) -> float | None:
    values = (payload or {}).get(key) or []
    return values[i] if i < len(values) and isinstance(values[i], int | float) else None


def _matrix(tuned: dict | None) -> list[dict]:
    if not tuned:
        return []
    labels = tuned.get("labels", [])
    return [{"label": label, "counts": row} for label, row in zip(labels, tuned.get("confusion_matrix", []),
                                                                     strict=False)]
