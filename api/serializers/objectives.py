"""A training job's objective (trainers/objectives/) as the API takes it: a field of its own; its
parameter group goes in ``params`` under its name (``{"dpo": {"beta": 0.1}}``), checked by the
launch path (``jobs.launch.rules``) with the method's groups."""

from __future__ import annotations

from rest_framework import serializers

from trainers.objectives.params import OBJECTIVE_TASKS, OBJECTIVE_TITLES, either

DEFAULT = "sft"


def objective_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=list(OBJECTIVE_TASKS),
        default=DEFAULT,
        help_text="What to learn: "
        + "; ".join(f"{name}: {title}, from {either(OBJECTIVE_TASKS[name])} data"
                    for name, title in OBJECTIVE_TITLES.items())
        + '. Its own parameters go in params under its name, e.g. {"dpo": {"beta": 0.1}}.',
    )
