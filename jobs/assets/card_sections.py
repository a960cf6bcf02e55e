"""Evaluation sections added to the model card (README.md) of what a finished job produced: the
forgetting report of a training job (retention perplexity and the team's multiple-choice retention
task, before and after, with the team's limit). The promotion gate writes its own (jobs/gates.py).
The record in the database stands; the card is a copy of it for whoever downloads the model."""

from __future__ import annotations

import logging

from jobs.data import storage
from jobs.models import Job
from jobs.retention import retention_report

log = logging.getLogger(__name__)


def forgetting_lines(job: Job, series: dict[str, list[tuple[int, float]]]) -> list[str]:
    """The forgetting report as markdown, or [] where the trainer did not measure it."""
    found = retention_report(job, series)
    if found is None:
        return []
    lines = ["", "## Forgetting report", "", "| Measure | Before training | After training | Change |",
             "|---|---:|---:|---:|",
             f"| General-text perplexity ({found['passages']} passages) | {found['before']:.3f} | "
             f"{found['after']:.3f} | {found['increase_percent']:+.1f} % |"]
    if (choice := found["choice"]) is not None:
        lines.append(f"| Retention questions, accuracy | {choice['before']:.3f} | {choice['after']:.3f} | "
                     f"{-choice['drop_points']:+.1f} points |")
    warned = found["warned"] or (choice is not None and choice["warned"])
    verdict = "past" if warned else "within"
    lines += ["", f"Retention is {verdict} the team's limit of {found['threshold_percent']:g} "
              "(% rise in perplexity, points of accuracy).", ""]
    return lines


def add_forgetting_report(job: Job) -> None:
    """Append the forgetting report to the card of each model a succeeded training job produced."""
    if job.kind != Job.Kind.TRAIN:
        return
    series: dict[str, list[tuple[int, float]]] = {}
    points = job.metrics.filter(name__startswith="retention/").order_by("name", "step")
    for name, step, value in points.values_list("name", "step", "value"):
        series.setdefault(name, []).append((step, value))
    lines = forgetting_lines(job, series)
    if not lines:
        return
    for artifact in job.artifacts.filter(kind__in=("adapter", "model")):
        card = storage.resolve(artifact.location) / "README.md"
        try:
            if card.is_file():
                with card.open("a", encoding="utf-8") as out:
                    out.write("\n".join(lines))
        except OSError as exc:
            log.warning("job %s: could not add the forgetting report to %s: %s", job.pk, card, exc)
