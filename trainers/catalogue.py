"""The training catalogue: every objective and method Hone can run, and the JSON schema of their parameters.

One source of truth, built from the method registry (``trainers.methods``) and the objectives
(``trainers.objectives.params``). ``python -m trainers methods --json`` prints it, the platform's
API serves it (``GET /api/v1/methods``), and the web form builds its fields from it. A method's
parameters come in named groups: ``{"lora": {...}, "method_params": {...}, "training": {...}}``,
each a pydantic model, which stays the single source of defaults, bounds and descriptions.
Nothing here imports Django, torch or peft.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from trainers import methods as registry
from trainers.methods.base import TrainMethod
from trainers.objectives.params import OBJECTIVE_PARAMS, OBJECTIVE_TASKS, OBJECTIVE_TITLES
from trainers.spec import LoraParams, TrainingParams


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # the job kind that runs it: train, merge, quantize, evaluate
    title: str
    description: str
    params: dict[str, type[BaseModel]] = field(default_factory=dict)
    # The dataset tasks a training method can learn from (through the objectives it trains).
    dataset_tasks: tuple[str, ...] = ()
    paper: str = ""
    objectives: tuple[str, ...] = ()
    needs_cuda: bool = False
    artifact: str = "adapter"  # what a job saves: a peft "adapter" or a whole "model"

    def parameters_schema(self) -> dict:
        """A JSON schema for the whole ``params`` object: one property per group."""
        groups = {group: model.model_json_schema() for group, model in self.params.items()}
        return {
            "type": "object",
            "properties": groups,
            "additionalProperties": False,
            "description": f"Parameters of {self.title}; every field has a default.",
        }

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "paper": self.paper,
            "objectives": list(self.objectives),
            "dataset_tasks": list(self.dataset_tasks),
            "needs_cuda": self.needs_cuda,
            "artifact": self.artifact,
            "parameters": self.parameters_schema(),
        }


def param_groups(method: TrainMethod) -> dict[str, type[BaseModel]]:
    """The parameter groups a training job of ``method`` takes, in the order a form shows them."""
    groups: dict[str, type[BaseModel]] = {}
    if method.uses_lora_group:
        groups["lora"] = LoraParams
    if method.params is not None:
        groups["method_params"] = method.params
    groups["training"] = TrainingParams
    return groups


def _entry(method: TrainMethod) -> Method:
    return Method(
        name=method.name,
        kind="train",
        title=method.title,
        description=method.description,
        params=param_groups(method),
        dataset_tasks=method.dataset_tasks(),
        paper=method.paper,
        objectives=method.objectives,
        needs_cuda=method.needs_cuda,
        artifact=method.artifact,
    )


METHODS: dict[str, Method] = {name: _entry(method) for name, method in registry.METHODS.items()}


class UnknownMethod(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        known = ", ".join(METHODS)
        raise UnknownMethod(f"unknown method {name!r}; known methods: {known}") from None


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
            "name": name,
            "title": OBJECTIVE_TITLES[name],
            "dataset_tasks": list(tasks),
            "parameters": OBJECTIVE_PARAMS[name].model_json_schema() if name in OBJECTIVE_PARAMS else None,
            "methods": [m.name for m in METHODS.values() if name in m.objectives],
        }
        for name, tasks in OBJECTIVE_TASKS.items()
    ]


def catalogue() -> dict:
    """The whole training catalogue (what ``python -m trainers methods --json`` prints)."""
    return {
        "objectives": objectives(),
        "methods": describe("train"),
        "combinations": [
            {"objective": objective, "method": m.name}
            for objective in OBJECTIVE_TASKS
            for m in methods()
            if objective in m.objectives
        ],
    }


def objective_tasks(objective: str) -> tuple[str, ...]:
    """The dataset tasks an objective learns from."""
    return OBJECTIVE_TASKS.get(objective, ())
