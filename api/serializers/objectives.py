"""A training job's objective (trainers/objectives/) and its own parameter group, as the API takes them.

The objective is kept in the job's params (``{"objective": "dpo", "dpo": {"beta": 0.1}, ...}``),
which the job's spec is built from as they are, so the trainer sees exactly what was validated.
A job without one is ``sft``, as every job was before objectives existed.
"""

from __future__ import annotations

from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers

from trainers.objectives.params import OBJECTIVE_PARAMS, OBJECTIVE_TASKS, OBJECTIVE_TITLES, either

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


def of_job(params: dict) -> str:
    return params.get("objective", DEFAULT)


def split_params(objective: object, raw: dict) -> tuple[dict, dict]:
    """(the method's groups, the objective's own group validated with defaults filled in)."""
    if not isinstance(objective, str):  # the objective field reports it; here it names no group
        objective = DEFAULT
    rest = {k: v for k, v in raw.items() if k not in OBJECTIVE_PARAMS and k != "objective"}
    errors: dict[str, object] = {}
    for name in sorted(raw.keys() & OBJECTIVE_PARAMS.keys() - {objective}):
        errors[name] = [f"parameters of the {name} objective, but the objective is {objective!r}; remove it"]
    own: dict = {}
    model = OBJECTIVE_PARAMS.get(str(objective))
    given = raw.get(str(objective)) or {}
    if model is not None and not isinstance(given, dict):
        errors[str(objective)] = ["must be an object"]
    elif model is not None:
        try:
            own = {str(objective): model.model_validate(given).model_dump(mode="json")}
        except PydanticValidationError as exc:
            errors[str(objective)] = {".".join(map(str, e["loc"])): [e["msg"]] for e in exc.errors()}
    if errors:
        raise serializers.ValidationError(errors)
    return rest, own


def stored(objective: str, params: dict) -> dict:
    """The params a job keeps: unchanged for sft; else with the objective and its group (defaults if
    none was given)."""
    if objective == DEFAULT:
        return params
    group = OBJECTIVE_PARAMS.get(objective)
    defaults = {objective: group().model_dump(mode="json")} if group and objective not in params else {}
    return {**params, "objective": objective, **defaults}


def check_data(objective: str, dataset) -> None:
    """A dataset the objective cannot learn from is an error on ``dataset``, saying what would fit."""
    tasks = OBJECTIVE_TASKS[objective]
    if dataset.task not in tasks:
        fitting = [name for name, ok in OBJECTIVE_TASKS.items() if dataset.task in ok]
        raise serializers.ValidationError(
            {
                "dataset": [
                    f"{dataset.name} holds {dataset.task} data, but the {objective} objective learns from "
                    f"{either(tasks)} data; pick such a dataset, or objective {either(fitting)}"
                ]
            }
        )
