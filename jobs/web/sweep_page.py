"""What a sweep's page shows besides any job's: its trials, the metric over trials, the best trial
(one click from a new training job with its settings), the preset it is compared with, and how much
each parameter mattered."""

from __future__ import annotations

from django.urls import reverse

from jobs.models import Job
from jobs.sweeps import results
from jobs.web.charts import line_chart


def sweep_context(job: Job) -> dict:
    found = results.summary(job)
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
        "sweep_rows": [(t, [shown(t.params.get(p)) for p in places]) for t in found.trials],
        "sweep_chart": line_chart(series, title=f"{found.metric} by trial number"),
        "sweep_train_best": reverse("jobs:job_create") + f"?from={found.best.job}" if found.best else None,
        "sweep_importance": sorted(found.importance.items(), key=lambda item: -item[1]),
    }


def shown(value: object) -> object:
    """A point's value as the table shows it: a list (LoRA's target modules) as "q_proj, v_proj"."""
    return ", ".join(map(str, value)) if isinstance(value, list) else value
