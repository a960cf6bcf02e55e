"""A sweep's search space, typed by the catalogue's own parameter models (no Django, no torch).

A space maps a parameter's place to what to try there: ``{"lora.r": {"low": 2, "high": 32, "log": true},
"method": {"choices": ["lora", "full"]}, "training.learning_rate": {"low": 1e-5, "high": 1e-3, "log":
true}}``. A choice may be a list (``"lora.target_modules": {"choices": [["q_proj", "v_proj"],
"all-linear"]}``): Optuna's categorical distributions take scalars only, so such a choice is asked of
Optuna as its JSON text and read back as the list. A place is ``method`` or ``<group>.<field>`` of a
training job's parameter groups (``lora``, ``training``, ``method_params`` and the objective's own
group). Every value a dimension can give is checked against that field's own pydantic field (bounds,
type), so a range outside the schema's bounds is refused at ``space.lora.r`` before anything is
created. Sampling uses Optuna's ``suggest_*``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.fields import FieldInfo

from trainers.objectives.params import OBJECTIVE_PARAMS
from trainers.spec import LoraParams, TrainingParams

Scalar = bool | int | float | str
Choice = Scalar | list[Scalar]  # a list: a value such as lora.target_modules
Place = tuple[str, ...]
SpaceProblem = tuple[Place, str]  # (place under "space", message)


class Choices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    choices: list[Choice] = Field(
        min_length=1,
        description='Values to try, e.g. ["lora", "full"] or [["q_proj", "v_proj"], "all-linear"].',
    )

    def categorical(self) -> list[Scalar]:
        """The choices as Optuna's categorical distribution takes them: a list as its JSON text."""
        return [as_categorical(c) for c in self.choices]

    def value_of(self, asked: Scalar) -> Choice:
        """The choice Optuna's categorical value stands for."""
        return dict(zip(self.categorical(), self.choices, strict=True)).get(asked, asked)


def as_categorical(choice: Choice) -> Scalar:
    return json.dumps(choice) if isinstance(choice, list) else choice


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    low: float
    high: float
    log: bool = Field(False, description="Sample evenly in log space (learning rates, ranks).")
    step: float | None = Field(None, gt=0, description="Only multiples of this above low.")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low above 0")
        if self.log and self.step is not None:
            raise ValueError("give either log or step, not both")
        return self


Dimension = Choices | Range


def dimension(raw: Any) -> Dimension:
    """A dimension from JSON: ``{"choices": [...]}`` or ``{"low": …, "high": …}``."""
    model = Choices if isinstance(raw, dict) and "choices" in raw else Range
    return model.model_validate(raw)


def groups(method_params: type[BaseModel] | None) -> dict[str, type[BaseModel]]:
    """The parameter groups a sweep may search, by name: the catalogue's own models."""
    found: dict[str, type[BaseModel]] = {"lora": LoraParams, "training": TrainingParams, **OBJECTIVE_PARAMS}
    if method_params is not None:
        found["method_params"] = method_params
    return found


def parsed_dimensions(space: dict, found: list[SpaceProblem]) -> Iterator[tuple[tuple[str, ...], Dimension]]:
    """Each place of ``space`` (``"lora.r"`` → ``("lora", "r")``) with its parsed dimension; one that
    does not parse adds its problems to ``found``, at the place, and is skipped."""
    for name, raw in space.items():
        place = tuple(str(name).split("."))
        try:
            yield place, dimension(raw)
        except ValidationError as exc:
            found += [
                (place + tuple(map(str, e["loc"])), e["msg"].removeprefix("Value error, "))
                for e in exc.errors()
            ]


def space_problems(
    space: Any, *, method: str, methods: dict[str, type[BaseModel] | None], objective: str
) -> list[SpaceProblem]:
    """Everything wrong with ``space`` for a sweep of ``method`` on ``objective``. ``methods``: the
    training methods that train ``objective``, each with its ``method_params`` model."""
    if not isinstance(space, dict) or not space:
        return [((), 'give at least one parameter to search, e.g. {"lora.r": {"choices": [4, 8, 16]}}')]
    found: list[SpaceProblem] = []
    for place, dim in parsed_dimensions(space, found):
        where = _dimension_problems(place, dim, space, methods, objective, methods.get(method))
        found += [(place + sub, msg) for sub, msg in where]
    return found


def _dimension_problems(
    place: Place,
    dim: Dimension,
    space: dict,
    methods: dict[str, type[BaseModel] | None],
    objective: str,
    method_params: type[BaseModel] | None,
) -> list[SpaceProblem]:
    if place == ("method",):
        if not isinstance(dim, Choices):
            return [((), 'method takes choices, e.g. {"choices": ["lora", "full"]}')]
        bad = [c for c in dim.choices if c not in methods]
        known = ", ".join(methods)
        return [(("choices",), f"{c!r} does not train {objective}; use one of {known}") for c in bad]
    if len(place) != 2:
        return [((), "name a parameter as method or <group>.<field>, e.g. lora.r or training.learning_rate")]
    group, name = place
    if group == "method_params" and "method" in space:
        return [((), "method_params differ from method to method: search them with the method fixed")]
    if group in OBJECTIVE_PARAMS and group != objective:
        return [
            ((), f"{group} parameters are read by the {group} objective only; this sweep trains {objective}")
        ]
    models = groups(method_params)
    if group not in models:
        return [((), f"unknown parameter group {group!r}; use one of {', '.join(models)}")]
    info = models[group].model_fields.get(name)
    if info is None:
        fields = ", ".join(models[group].model_fields)
        return [((), f"{group} has no parameter {name!r}; use one of {fields}")]
    return _values_fit(dim, info)


def _values_fit(dim: Dimension, info: FieldInfo) -> list[SpaceProblem]:
    """Each value the dimension can give, validated by the field itself (its bounds and type); a
    problem is at the parameter's place (``space.lora.r``) and says which value is wrong."""
    adapter = TypeAdapter(Annotated[info.annotation, info])
    if isinstance(dim, Choices):
        values = [(f"choice {v!r}", v) for v in dim.choices]
    else:
        if not _numeric(info):
            return [((), "this parameter is not a number: search it with choices")]
        values = [("low", dim.low), ("high", dim.high)]
        if _integer(info) and not all(float(v).is_integer() for _, v in values):
            return [((), "this parameter is a whole number: give whole low and high")]
        values = [(where, int(v) if _integer(info) else v) for where, v in values]
    found = []
    for where, value in values:
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            found.append(
                ((), f"{where} {value!r} is outside what the parameter takes: {exc.errors()[0]['msg']}")
            )
    return found


def _types(info: FieldInfo) -> set:
    args = getattr(info.annotation, "__args__", None)
    return set(args) if args else {info.annotation}


def _numeric(info: FieldInfo) -> bool:
    return bool(_types(info) & {int, float}) and bool not in _types(info)


def _integer(info: FieldInfo) -> bool:
    return int in _types(info) and float not in _types(info)


def integer_places(space: dict, method_params: type[BaseModel] | None) -> set[str]:
    """The places whose ranges sample whole numbers (``lora.r``), from the fields' own types."""
    models = groups(method_params)
    found = set()
    for name in space:
        group, _, field = name.partition(".")
        info = models.get(group, BaseModel).model_fields.get(field) if field else None
        if info is not None and _integer(info):
            found.add(name)
    return found


def suggest(trial: Any, space: dict, whole: set[str]) -> dict[str, Choice]:
    """One point of the space, asked of an Optuna trial (``whole``: places sampled as integers)."""
    point: dict[str, Choice] = {}
    for name, raw in space.items():
        dim = dimension(raw)
        if isinstance(dim, Choices):
            point[name] = dim.value_of(trial.suggest_categorical(name, dim.categorical()))
        elif name in whole:
            point[name] = trial.suggest_int(
                name, int(dim.low), int(dim.high), log=dim.log, step=int(dim.step or 1)
            )
        else:
            point[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log, step=dim.step)
    return point


def point_of(space: dict, asked: dict[str, Any]) -> dict[str, Choice]:
    """A trial's point from Optuna's parameters: list choices read back from their JSON text."""
    point = {}
    for name, value in asked.items():
        dim = dimension(space[name]) if name in space else None
        point[name] = dim.value_of(value) if isinstance(dim, Choices) else value
    return point


def apply_point(method: str, objective: str, params: dict, point: dict[str, Choice]) -> tuple[str, dict]:
    """The training job a point of the space makes: the sweep's method and parameters with the point's
    values set in their groups; groups the point's method does not read are left out (a ``lora`` group
    when the point is full fine-tuning)."""
    from trainers import methods

    params = copy.deepcopy(params)
    method = str(point.get("method", method))
    for name, value in point.items():
        if name != "method":
            group, field = name.split(".", 1)
            params.setdefault(group, {})[field] = value
    reads = {*methods.get(method).params, objective, "gate"}  # gate: the platform's promotion gate
    return method, {group: values for group, values in params.items() if group in reads}


def grid(space: dict) -> dict[str, list[Scalar]]:
    """The grid sampler's search space: every dimension must be choices (lists as their JSON text)."""
    return {name: dimension(raw).categorical() for name, raw in space.items()}  # type: ignore[union-attr]
