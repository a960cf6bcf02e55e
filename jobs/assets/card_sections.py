"""Evaluation sections added to model cards (README.md): the forgetting report of a training job
(retention perplexity and the team's multiple-choice retention task, before and after, with the
team's limit) on the models it produced; an evaluate job's harness table and judge win rate on its
candidate's card, where the candidate is a model Hone made. The promotion gate writes its own
(jobs/gates.py). The record in the database stands; the card is a copy of it for whoever downloads
the model."""

from __future__ import annotations

import logging
from pathlib import Path

from jobs.data import storage
from jobs.models import Job

log = logging.getLogger(__name__)


def forgetting_lines(job: Job, series: dict[str, list[tuple[int, float]]]) -> list[str]:
    """The forgetting report as markdown, or [] where the trainer did not measure it."""
    # Imported here: jobs.retention reads trainers.forgetting, which imports torch, and this module is
    # loaded by every worker and web process through jobs.lifecycle.services.
    from jobs.retention import retention_report

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


def evaluation_lines(job: Job, series: dict[str, list[tuple[int, float]]]) -> list[str]:
    """An evaluate job's harness table and judge win rate as markdown, or [] where it has neither."""
    from jobs.web.evaluation_report import harness_table  # the page's table (see forgetting_lines)

    rows = harness_table(job, series)
    wins = [v for _step, v in series.get("eval/judge_win_rate", []) if _step == 1 and v is not None]
    if not rows and not wins:
        return []
    lines = ["", f"## Evaluation (job #{job.pk}: {job.name})", ""]
    if rows:
        lines += ["| Harness task | Metric | Base | This model | Change |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['task']} | {r['metric']} | {_number(r['base'])} | {_number(r['candidate'])} | "
                  f"{_number(r['change'], signed=True)} |" for r in rows]
        lines.append("")
    if wins:
        lines += [f"Judge win rate against the base: {wins[0]:.0%} of the prompts.", ""]
    return lines


def _number(value: float | None, *, signed: bool = False) -> str:
    return "—" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def add_evaluation_sections(job: Job) -> None:
    """A succeeded job's sections on the cards: a training job's forgetting report on its outputs, an
    evaluate job's results on its candidate's card (a model Hone made, with its files in storage)."""
    if job.kind == Job.Kind.TRAIN:
        lines = forgetting_lines(job, _series(job, "retention/"))
        cards = [storage.resolve(a.location) for a in job.artifacts.filter(kind__in=("adapter", "model"))]
    elif job.kind == Job.Kind.EVALUATE:
        lines = evaluation_lines(job, _series(job, "eval/"))
        row = job.inputs.filter(role="candidate").select_related("model").first()
        made = row is not None and row.model is not None and row.model.produced_by_id is not None
        cards = [Path(row.model.path)] if made and _in_storage(Path(row.model.path)) else []
    else:
        return
    for folder in cards if lines else []:
        card = folder / "README.md"
        try:
            if card.is_file():
                with card.open("a", encoding="utf-8") as out:
                    out.write("\n".join(lines))
        except OSError as exc:
            log.warning("job %s: could not add its evaluation to %s: %s", job.pk, card, exc)


def _in_storage(path: Path) -> bool:
    """Hone writes only to the cards of models in its own storage (a job's outputs), never elsewhere."""
    return path.is_dir() and path.resolve().is_relative_to(storage.root().resolve())


def _series(job: Job, prefix: str) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    points = job.metrics.filter(name__startswith=prefix).order_by("name", "step")
    for name, step, value in points.values_list("name", "step", "value"):
        series.setdefault(name, []).append((step, value))
    return series
