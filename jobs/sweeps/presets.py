"""Saving a sweep's best trial as a team preset: its training job's method, objective and
parameters under a name, to start new training jobs from (``jobs.team_presets``); renaming one.
Members who may launch save, rename and delete their team's presets (the team page, the API)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from jobs.models import Job, TeamPreset
from jobs.sweeps import results


class PresetRefused(Exception):
    """The sweep has no best trial to save, or the team has a preset of that name already."""


def save_best(sweep: Job, *, user: object, name: str = "") -> TeamPreset:
    """The sweep's best complete trial, saved as a preset of the sweep's team."""
    if sweep.kind != Job.Kind.SWEEP:
        raise PresetRefused(f"Job #{sweep.pk} is a {sweep.kind} job, not a sweep: it has no best trial.")
    if sweep.params.get("trial_kind") == Job.Kind.MERGE:
        raise PresetRefused(
            f"Sweep #{sweep.pk} is an evolved merge: its best is a merged model (on its best trial's job "
            "page), not training settings to save as a preset."
        )
    found = results.summary(sweep)
    if found.best is None or found.best.job is None:
        raise PresetRefused(f"Sweep #{sweep.pk} has no complete trial yet: there is no best to save.")
    best = sweep.trials.get(pk=found.best.job)
    name = (name.strip() or f"Best of {sweep.name}")[:200]
    try:
        with transaction.atomic():
            return TeamPreset.objects.create(
                team=sweep.team,
                name=name,
                method=best.method,
                objective=best.objective,
                params=best.params,
                source_job=best,
                value=found.best.value,
                metric=found.metric,
                created_by=user,
            )
    except IntegrityError:
        raise PresetRefused(f"Team {sweep.team.name} has a preset named “{name}” already.") from None


def rename(preset: TeamPreset, name: str) -> TeamPreset:
    """The team's preset under a new name; PresetRefused for an empty name or one the team uses."""
    name = name.strip()[:200]
    if not name:
        raise PresetRefused("Give the preset a name.")
    if preset.team.presets.filter(name=name).exclude(pk=preset.pk).exists():
        raise PresetRefused(f"Team {preset.team.name} has a preset named “{name}” already.")
    TeamPreset.objects.filter(pk=preset.pk).update(name=name)
    preset.name = name
    return preset
