"""The training catalogue: every objective and method Hone can run, and the JSON schema of their parameters.

One source of truth, built from the method registry (``trainers.methods``) and the objectives
(``trainers.objectives.registry``). ``python -m trainers methods --json`` prints it, the platform's
API serves it (``GET /api/v1/methods``), and the web form builds its fields from it. A method's
parameters come in named groups: ``{"lora": {...}, "method_params": {...}, "training": {...}}``,
each a pydantic model, which stays the single source of defaults, bounds and descriptions.
Nothing here imports Django, torch or peft.
"""

from __future__ import annotations

from trainers import methods as registry
from trainers.methods import UnknownMethod, get
from trainers.methods.base import TrainMethod
from trainers.objectives import registry as objective_registry

# One type for a method everywhere: the registry's own entries (trainers/methods/base.py).
Method = TrainMethod
METHODS: dict[str, Method] = registry.METHODS

__all__ = ["METHODS", "Method", "UnknownMethod", "catalogue", "describe", "get", "methods", "objectives"]


def methods(kind: str | None = None) -> list[Method]:
    """Every method, or those that run as jobs of ``kind``, in registry order."""
    return [m for m in METHODS.values() if kind is None or m.kind == kind]


def describe(kind: str | None = None) -> list[dict]:
    """The methods as JSON-ready dicts (what the API serves)."""
    return [m.describe() for m in methods(kind)]


def objectives() -> list[dict]:
    """Every objective: what it learns from, its own parameters and the methods that can train it."""
    return [
        {
            "name": objective.name,
            "title": objective.title,
            "dataset_tasks": list(objective.tasks),
            "parameters": objective.params.model_json_schema() if objective.params else None,
            "methods": [m.name for m in METHODS.values() if objective.name in m.objectives],
        }
        for objective in objective_registry.OBJECTIVES.values()
    ]


def catalogue() -> dict:
    """The whole training catalogue (what ``python -m trainers methods --json`` prints)."""
    return {
        "objectives": objectives(),
        "methods": describe("train"),
        "combinations": [
            {"objective": objective, "method": m.name}
            for objective in objective_registry.OBJECTIVES
            for m in methods()
            if objective in m.objectives
        ],
    }


def objective_tasks(objective: str) -> tuple[str, ...]:
    """The dataset tasks an objective learns from."""
    known = objective_registry.OBJECTIVES.get(objective)
    return known.tasks if known else ()
