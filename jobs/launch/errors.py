"""A refused launch in each door's own terms: problems under the form's fields or the API's paths.

Problems carry their place in the trainer's spec vocabulary (``jobs.launch.types``); a door gives a
``field_of`` that says which of its fields a place is, and ``by_field`` does the rest, so every
door words a refusal the same way. A problem at a place the door has no field for keeps its place
in its message ("lora.target_modules: …") and goes on the request as a whole.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms

from jobs.launch.types import LaunchRefused, Loc, Problem
from trainers.objectives.params import OBJECTIVE_PARAMS

FieldOf = Callable[[Loc], str | None]
# A training job's places that are request fields of the same name, in the forms and the API.
TRAIN_FIELDS = ("base_model", "dataset", "validation", "method", "objective", "compute_profile", "name")
# A training spec's places no request field sets: problems there go on the request as a whole.
SPEC_ONLY = ("version", "kind", "job_id", "attempt", "output_dir", "resume_from", "init_adapter", "events",
            "reward_models")


Problems = LaunchRefused | list[Problem]


def by_field(problems: Problems, field_of: FieldOf) -> dict[str | None, list[str]]:
    """Each problem's message under the door's field for its place (None: the request as a whole)."""
    if isinstance(problems, LaunchRefused):
        problems = problems.problems
    found: dict[str | None, list[str]] = {}
    for problem in problems:
        field = field_of(problem.loc)
        found.setdefault(field, []).append(problem.message if field else str(problem))
    return found


def api_errors(problems: Problems, field_of: FieldOf) -> dict[str, list[str]]:
    """For a DRF ValidationError: messages by request path, the whole request's as non_field_errors."""
    return {field or "non_field_errors": messages for field, messages in by_field(problems, field_of).items()}


def dotted(loc: Loc) -> str | None:
    """A place as a dotted path (``lora.r``), the API's way inside a body part."""
    return ".".join(str(part) for part in loc) or None


def add_to_form(form: forms.Form, problems: Problems, field_of: FieldOf) -> None:
    """Put each problem next to the form field it is about, or above the form."""
    for field, messages in by_field(problems, lambda loc: _known(form, field_of(loc))).items():
        for message in messages:
            form.add_error(field, message)


def _known(form: forms.Form, field: str | None) -> str | None:
    return field if field in form.fields else None


def train_api_field(loc: Loc) -> str | None:
    """A training job's place as the API names it: ``base_model``, else a parameter group's, under
    ``params`` (``params.training.learning_rate``, ``params.bogus`` for a group no method reads)."""
    head = str(loc[0]) if loc else ""
    if head in TRAIN_FIELDS:
        return head if len(loc) == 1 else None
    return None if not head or head in SPEC_ONLY else ".".join(["params", *map(str, loc)])


def train_form_field(method: str) -> FieldOf:
    """A training job's place as the job forms name it: spec names for the training and LoRA
    settings, ``<method>__<name>`` and ``<objective>__<name>`` for the method's and objective's own."""

    def field_of(loc: Loc) -> str | None:
        head, name = (str(loc[0]) if loc else ""), (str(loc[1]) if len(loc) > 1 else "")
        if head in ("training", "lora") and name:
            return name
        if head == "distributed" and name == "strategy":
            return "strategy"
        if head == "method_params" and name:
            return f"{method}__{name}"
        if head in OBJECTIVE_PARAMS and name:
            return f"{head}__{name}"
        return head if head in TRAIN_FIELDS and len(loc) == 1 else None

    return field_of
