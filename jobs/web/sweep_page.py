"""What a sweep's page shows besides any job's: its trials (in trial order, or best first with
``?trials=by-metric``), the metric over trials, each parameter against the metric, the best trial
(one click from a new training job with its settings, or saved as a team preset; an evolved merge's:
its merge job and model), the preset it is compared with, and how much each parameter mattered. An
evolved merge's trials show their merge job and the evaluate job that scored it."""

from __future__ import annotations

from django.http import QueryDict
from django.urls import reverse

from jobs.models import Job
from jobs.sweeps import results
from jobs.web.charts import line_chart
from jobs.web.sweep_charts import Dot, parameter_scatter


def sweep_context(job: Job, query: QueryDict | None = None) -> dict:
    found = results.summary(job)
    by_metric = query is not None and query.get("trials") == "by-metric"
    told = [(t.number, t.value) for t in found.trials if t.value is not None and t.state == "complete"]
    pick = min if found.direction == "minimize" else max
    best_so_far, best = [], None
    for number, value in told:
        best = value if best is None else pick(best, value)
        best_so_far.append((number, best))
    series = {found.metric: told, "best so far": best_so_far}
    if found.preset is not None and found.preset.value is not None and told:
        series["preset"] = [(told[0][0], found.preset.value), (told[-1][0], found.preset.value)]
    places = sorted({place for t in found.trials for place in t.params})
    return {
        "sweep": found,
        "sweep_places": places,
        "sweep_rows": [(t, [shown(t.params.get(p)) for p in places]) for t in _ordered(found, by_metric)],
        "sweep_by_metric": by_metric,
        "sweep_merges": job.params.get("trial_kind") == Job.Kind.MERGE,  # an evolved merge's trials
        "sweep_scatters": _scatters(found, job.params.get("space") or {}),
        "sweep_chart": line_chart(series, title=f"{found.metric} by trial number"),
        "sweep_train_best": reverse("jobs:job_create") + f"?from={found.best.job}" if found.best else None,
        "sweep_importance": sorted(found.importance.items(), key=lambda item: -item[1]),
    }


def _ordered(found: results.Summary, by_metric: bool) -> list[results.Trial]:
    """The trials by number, or best first (those with no value yet last)."""
    if not by_metric:
        return found.trials
    sign = 1 if found.direction == "minimize" else -1
    return sorted(found.trials, key=lambda t: (t.value is None, sign * (t.value or 0.0), t.number))


def _scatters(found: results.Summary, space: dict) -> list:
    """Each searched parameter against the metric: the trials that reported a value of it."""
    reported = [t for t in found.trials if t.value is not None and t.state in ("complete", "pruned")]
    charts = []
    for place, raw in space.items():
        dots = [Dot(t.params[place], t.value, t.state == "pruned") for t in reported if place in t.params]
        winner = found.best if found.best and place in found.best.params else None
        best = Dot(winner.params[place], winner.value, False) if winner else None
        charts.append(parameter_scatter(place, raw, dots, metric=found.metric, best=best))
    return charts


def shown(value: object) -> object:
    """A point's value as the table shows it: a list (LoRA's target modules) as "q_proj, v_proj"."""
    return ", ".join(map(str, value)) if isinstance(value, list) else value
