"""The method catalogue: every method Hone can run, and the JSON schema of its parameters.

One explicit registry, read by the platform's API (``GET /api/v1/methods``) and meant to be
printed by ``python -m trainers methods --json``. A method's parameters come in named groups
(``{"lora": {...}, "training": {...}}``), each a pydantic model from ``trainers.spec``, which
stays the single source of defaults, bounds and descriptions. Nothing here imports Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from trainers.spec import LoraParams, TrainingParams


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # the job kind that runs it: train, merge, quantize, evaluate
    title: str
    description: str
    params: dict[str, type[BaseModel]] = field(default_factory=dict)
    # The dataset tasks a training method can learn from.
    dataset_tasks: tuple[str, ...] = ()

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
            "dataset_tasks": list(self.dataset_tasks),
            "parameters": self.parameters_schema(),
        }


METHODS: dict[str, Method] = {
    "lora": Method(
        name="lora",
        kind="train",
        title="LoRA fine-tuning",
        description=(
            "Trains a small low-rank adapter on top of a frozen base model; the result is an "
            "adapter you load with peft. Loss is computed on response tokens only."
        ),
        params={"lora": LoraParams, "training": TrainingParams},
        dataset_tasks=("instruction", "chat", "text"),
    ),
}


class UnknownMethod(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        known = ", ".join(sorted(METHODS))
        raise UnknownMethod(f"unknown method {name!r}; known methods: {known}") from None


def methods(kind: str | None = None) -> list[Method]:
    """Every method, or those that run as jobs of ``kind``, in a stable order."""
    return [m for _, m in sorted(METHODS.items()) if kind is None or m.kind == kind]


def describe(kind: str | None = None) -> list[dict]:
    """The catalogue as JSON-ready dicts (what ``--json`` prints and the API serves)."""
    return [m.describe() for m in methods(kind)]
