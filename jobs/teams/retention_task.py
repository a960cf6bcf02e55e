"""The team's multiple-choice task for the forgetting report (trainers/forgetting_task.py): none, Hone's
built-in general-knowledge questions, or one of the team's multiple-choice datasets. The team page's
select names them ``""``, ``"builtin"`` and ``"dataset:<id>"``."""

from __future__ import annotations

from jobs.models import Team

BUILTIN = Team.RetentionTask.BUILTIN.value
DATASET_PREFIX = "dataset:"


def options(team: Team) -> list[dict]:
    """What the select offers, the team's current choice selected."""
    chosen = current(team)
    found = [("", "None (retention perplexity only)"), (BUILTIN, Team.RetentionTask.BUILTIN.label)]
    found += [(f"{DATASET_PREFIX}{pk}", f"Dataset: {name}")
              for pk, name in team.datasets.filter(task="multiple_choice").values_list("pk", "name")]
    return [{"value": value, "label": label, "selected": value == chosen} for value, label in found]


def current(team: Team) -> str:
    if team.retention_task == Team.RetentionTask.DATASET and team.retention_dataset_id:
        return f"{DATASET_PREFIX}{team.retention_dataset_id}"
    return BUILTIN if team.retention_task == Team.RetentionTask.BUILTIN else ""


def choose(team: Team, raw: str) -> str | None:
    """Record the choice ``raw``; an error message naming what was wrong, or None once saved."""
    task, dataset = Team.RetentionTask.NONE, None
    if raw == BUILTIN:
        task = Team.RetentionTask.BUILTIN
    elif raw.startswith(DATASET_PREFIX):
        key = raw.removeprefix(DATASET_PREFIX)
        dataset = team.datasets.filter(pk=key, task="multiple_choice").first() if key.isdigit() else None
        if dataset is None:
            return f"Retention task: {raw[:40]} is not a multiple-choice dataset of {team.name}."
        task = Team.RetentionTask.DATASET
    elif raw:
        return f"Retention task: give none, builtin or a multiple-choice dataset of the team, not {raw[:40]}."
    Team.objects.filter(pk=team.pk).update(retention_task=task, retention_dataset=dataset)
    return None
