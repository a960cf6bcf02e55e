"""An evolved merge's search space: the places of a merge job that a sweep may vary (no Django, no torch).

A merge sweep's trials are merge jobs, each scored by an evaluate job. Its space names places of the
merge spec: ``models.<i>.weight`` (how much of the i-th model goes in; for methods that take
per-model weights) and ``params.<field>`` (a field of the method's own parameter model, such as the
``density`` of TIES and DARE). Every value a dimension can give is checked by that field's own
pydantic field (``MergeInput.weight``'s bounds, ``Density``'s (0, 1]), so a range outside what the
method takes is refused at ``space.params.density`` before anything is created.
"""

from __future__ import annotations

import copy
from typing import Any

from trainers.merge import registry
from trainers.merge.method import MergeMethod
from trainers.spec_merge import MergeInput
from trainers.sweep_space import (
    Choice,
    Choices,
    Dimension,
    Range,
    SpaceProblem,
    _values_fit,
    dimension,
    parsed_dimensions,
)

EXAMPLE = '{"models.0.weight": {"low": 0, "high": 1}, "params.density": {"low": 0.2, "high": 1}}'


def merge_space_problems(space: Any, *, method: str, models: int) -> list[SpaceProblem]:
    """Everything wrong with ``space`` for a sweep of ``method`` merges of ``models`` models."""
    if not isinstance(space, dict) or not space:
        return [((), f"give at least one place of the merge to search, e.g. {EXAMPLE}")]
    if method not in registry.METHODS:
        return []  # the merge spec itself names the unknown method, at trial.method
    found: list[SpaceProblem] = []
    for place, dim in parsed_dimensions(space, found):
        where = _place_problems(place, dim, registry.get(method), models)
        found += [(place + sub, msg) for sub, msg in where]
    return found


def _place_problems(place: tuple[str, ...], dim: Dimension, method: MergeMethod, models: int) -> list:
    if len(place) == 3 and place[0] == "models" and place[2] == "weight":
        return _weight_problems(place[1], dim, method, models)
    if len(place) == 2 and place[0] == "params":
        info = method.params.model_fields.get(place[1])
        if info is None:
            fields = ", ".join(method.params.model_fields) or "none"
            return [((), f"{method.name} has no parameter {place[1]!r}; its parameters: {fields}")]
        return _values_fit(dim, info)
    return [((), f"a merge sweep searches models.<i>.weight and params.<field>, e.g. {EXAMPLE}")]


def _weight_problems(index: str, dim: Dimension, method: MergeMethod, models: int) -> list[SpaceProblem]:
    if method.weights == "none":
        return [((), f"{method.name} takes no per-model weights; search its params instead")]
    if not index.isdigit() or int(index) >= models:
        return [((), f"{index!r} is not a model's index; this merge has models 0 to {models - 1}")]
    found = _values_fit(dim, MergeInput.model_fields["weight"])
    values = dim.choices if isinstance(dim, Choices) else [dim.low, dim.high]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < len(values):
        found.append(((), "a weight is a number: give numbers as choices"))
    elif method.weights == "proportions" and min(numbers) < 0:
        found.append(((), f"{method.name} mixes models in proportions: weights must be >= 0"))
    return found


def apply_merge_point(
    trial: dict, weights: list[float | None], point: dict[str, Choice]
) -> tuple[list[float | None], dict]:
    """The merge a point makes: the models' weights with the point's set, and the merge job's params
    (``method``, ``params``…) with the point's ``params.<field>`` values set."""
    weights, trial = list(weights), copy.deepcopy(trial)
    for name, value in point.items():
        head, _, rest = name.partition(".")
        if head == "models":
            weights[int(rest.split(".")[0])] = float(value)
        else:
            trial.setdefault("params", {})[rest] = value
    return weights, trial


def whole_places(space: dict, method: str) -> set[str]:
    """The places whose ranges sample whole numbers (an integer field of the method's parameters)."""
    from trainers.sweep_space import _integer

    fields = registry.get(method).params.model_fields if method in registry.METHODS else {}
    return {
        name
        for name, raw in space.items()
        if name.startswith("params.")
        and isinstance(dimension(raw), Range)
        and (info := fields.get(name.split(".", 1)[1])) is not None
        and _integer(info)
    }
