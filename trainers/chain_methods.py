"""The methods of the jobs that follow training (merge, quantize, evaluate), described like the
training catalogue (``trainers.catalogue``): name, kind, title, description and the JSON schema of
the job's ``params``, plus the facts a client needs to give the right inputs (``details``).

The parameter models are the trainer's own (each merge method's model, the quantize specs'
groups, the evaluate spec's fields), so defaults, bounds and help have one source. Nothing here
imports Django or torch.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from trainers.merge import registry
from trainers.quantize import registry as quantize_registry
from trainers.spec_curate import CurateSpec
from trainers.spec_evaluate import EvaluateSpec, HarnessParams, JudgeParams
from trainers.spec_quantize import QuantizeOutput

# name -> (title, description, parameter model or None), from the quantize registry.
QUANTIZE_METHODS: dict[str, tuple[str, str, type[BaseModel] | None]] = {
    m.name: (m.title, m.description, m.params) for m in quantize_registry.METHODS.values()
}
QUANTIZE_OUTPUTS: tuple[str, ...] = QuantizeOutput.__args__


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What an evaluate job's ``params`` may set: these fields of the evaluate spec, as they are there.
# ``harness``: what a person chooses of it (HarnessParams); task directories and data come from the platform.
EVALUATE_FIELDS = ("max_rows", "max_length", "prompts", "max_new_tokens", "harness", "judge")
EvaluateParams: type[BaseModel] = create_model(
    "EvaluateParams",
    __config__=ConfigDict(extra="forbid"),
    **{
        name: (EvaluateSpec.model_fields[name].annotation, EvaluateSpec.model_fields[name])
        for name in EVALUATE_FIELDS
        if name not in ("harness", "judge")
    },
    harness=(HarnessParams | None, None),
    judge=(JudgeParams | None, None),
)

# What a curate job's ``params`` may set: its steps (each optional), the budget (required), the seed.
CURATE_FIELDS = (
    "budget", "dedup", "quality", "labels", "difficulty", "fit", "diversity", "influence", "seed",
    "chunk_rows",
)
CurateParams: type[BaseModel] = create_model(
    "CurateParams",
    __config__=ConfigDict(extra="forbid"),
    **{name: (CurateSpec.model_fields[name].annotation, CurateSpec.model_fields[name])
       for name in CURATE_FIELDS},
)


def _entry(
    name: str, kind: str, title: str, description: str, params: type[BaseModel], details: dict
) -> dict:
    schema = params.model_json_schema()
    required = schema.get("required")
    given = "every field has a default"
    if required:  # a curate job's budget
        given = f"{', '.join(required)} required, the rest have defaults"
    schema["description"] = f"Parameters of {title}; {given}."
    return {
        "name": name,
        "kind": kind,
        "title": title,
        "description": description,
        "dataset_tasks": details.pop("dataset_tasks", []),
        "parameters": schema,
        "details": details,
    }


def _merge_entries() -> list[dict]:
    found = []
    for method in registry.METHODS.values():
        facts = method.describe()
        keys = ("paper", "min_models", "max_models", "needs_base", "uses_base", "weights", "inputs", "output")
        details = {k: facts[k] for k in keys}
        if method.name == "greedy_soup":
            details["dataset_tasks"] = ["text", "instruction", "chat"]
            details["dataset"] = "required: held-out data each candidate soup is scored on"
        found.append(
            _entry(method.name, "merge", method.title, method.help, params_model(method.name), details)
        )
    return found


def params_model(name: str) -> type[BaseModel]:
    """The model that checks a merge method's ``params`` as the API takes them.

    Greedy soup's ``held_out`` is a dataset reference in the spec; through the platform it is
    the job's ``dataset`` input instead, so it is left out here."""
    model = registry.get(name).params
    if "held_out" not in model.model_fields:
        return model
    fields = {n: (f.annotation, f) for n, f in model.model_fields.items() if n != "held_out"}
    return create_model(f"{model.__name__}Given", __config__=ConfigDict(extra="forbid"), **fields)


def _quantize_entries() -> list[dict]:
    return [
        _entry(
            name,
            "quantize",
            title,
            description,
            params or NoParams,
            {
                "outputs": list(QUANTIZE_OUTPUTS),
                "dataset_tasks": ["text", "instruction", "chat"],
                "paper": quantize_registry.get(name).paper,
            },
        )
        for name, (title, description, params) in QUANTIZE_METHODS.items()
    ]


def _evaluate_entries() -> list[dict]:
    description = (
        "Measures a base and a candidate model the same way: perplexity and sample generations for "
        "language models, accuracy and macro-F1 for classifiers."
    )
    details = {"dataset_tasks": ["text", "instruction", "chat", "classification"]}
    return [
        _entry("evaluate", "evaluate", "Base vs candidate evaluation", description, EvaluateParams, details)
    ]


def _curate_entries() -> list[dict]:
    description = (
        "Makes a smaller, cleaner dataset: exact and near duplicates (also against an evaluation set: "
        "contamination), quality filters, label problems (cleanlab) and a diversity selection within a "
        "budget; every row gets a score and a reason it was kept or dropped."
    )
    details = {
        "dataset_tasks": ["text", "instruction", "chat", "preference", "classification"],
        "inputs": "datasets (one or more, one kind of data), eval_set (optional, same kind), "
        "tokenizer_model (whose tokens the length bounds count), embedding_model (default MiniLM)",
        "output": "a new dataset (registered on success, with its lineage) and a per-row parquet table",
    }
    return [_entry("curate", "curate", "Data curation and selection", description, CurateParams, details)]


def describe(kind: str | None = None) -> list[dict[str, Any]]:
    """Every merge, quantize, evaluate and curate method (or those of ``kind``), ready for JSON."""
    entries = _merge_entries() + _quantize_entries() + _evaluate_entries() + _curate_entries()
    return [e for e in entries if kind is None or e["kind"] == kind]


def find(name: str) -> dict[str, Any] | None:
    return next((entry for entry in describe() if entry["name"] == name), None)
