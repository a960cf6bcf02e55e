"""The team's saved presets in the guided set-up: beside quick / balanced / best quality, each preset
of the team that trains the goal's objective, with a method the catalogue has and a plan that fits the
chosen model on the compute profile (a preset whose plan would not fit is not offered).

A team option's key is ``team-<id>``: it travels in the query string as the built-in ones do, and a
key that names no preset of the current team (another team's, or a deleted one) falls back to the
default preset."""

from __future__ import annotations

from jobs.gates import GATE
from jobs.guided import presets
from jobs.models import Team, TeamPreset
from trainers import catalogue

PREFIX = "team-"
OFFERED = 5  # the newest presets that fit; the team page lists them all


def is_team_key(key: str) -> bool:
    return key.startswith(PREFIX) and key[len(PREFIX) :].isdigit() and len(key) < 20


def recipes(team: Team, objective: str) -> list[presets.Recipe]:
    """A recipe of each of the team's presets that trains ``objective``: its method and parameters."""
    found = []
    for saved in team.presets.filter(objective=objective).order_by("-created_at")[: OFFERED * 2]:
        if presets.trains(saved.method, objective) and "training" in saved.params:
            found.append(_recipe(saved, objective))
    return found


def _recipe(saved: TeamPreset, objective: str) -> presets.Recipe:
    reads = {*catalogue.get(saved.method).params, objective}
    params = {"objective": objective} | {
        group: values for group, values in saved.params.items() if group in reads and group != GATE
    }
    rank = int((params.get("lora") or {}).get("r", 0))
    reached = f" ({saved.metric} {saved.value:.4g})" if saved.value is not None and saved.metric else ""
    preset = presets.Preset(
        f"{PREFIX}{saved.pk}", saved.name, f"Your team's saved settings{reached}.", rank, 0
    )
    return presets.Recipe(preset, objective, saved.method, params, ["your team saved it"])


def fits(plan: presets.Plan) -> bool:
    """Whether a plan fits the chosen model on the profile (unknown counts as fitting)."""
    return plan.fit is None or plan.fit.fits is not False
