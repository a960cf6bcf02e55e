"""What a training method is: its catalogue entry, its parameters and how it prepares a model.

A method turns a freshly loaded base model into the thing the Trainer optimises: a peft model
with an adapter, or the base model itself with some parameters frozen. Variants (LoKr/LoHa,
LoRA's rsLoRA/DoRA/PiSSA/OLoRA/EVA options) are configured instances or parameters, never
subclasses. Importing this module does not import torch or peft.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from trainers.objectives.params import OBJECTIVE_TASKS
from trainers.spec import SpecError

# Every objective (trainers/objectives/params.py), and the ones that train a text generator.
ALL_OBJECTIVES: tuple[str, ...] = tuple(OBJECTIVE_TASKS)
CAUSAL_LM_OBJECTIVES = tuple(o for o in ALL_OBJECTIVES if o != "classification")
# Prompt-based methods (prompt and prefix tuning) put virtual tokens before the input, so the
# logits come back longer than the labels. peft pads the labels for the plain LM loss, but the
# preference trainers slice logits by position and would score the wrong tokens.
CAUSAL_LM_GENERATION = ("sft", "pretrain")

Artifact = Literal["adapter", "model"]


class MethodError(SpecError):
    """A method cannot run with these parameters on this model or machine; retrying will not help."""


class MethodParams(BaseModel):
    """Base of every method's parameter model: unknown fields are errors, values are final."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Context:
    """What a method may need from the run besides its own parameters."""

    task_type: Literal["CAUSAL_LM", "SEQ_CLS"] = "CAUSAL_LM"
    total_steps: int = 1
    seed: int = 42
    lora: Any = None  # the spec's ``lora`` group (LoraParams), for the LoRA family
    model_source: str | None = None  # the base model's path or hub id (prompt tuning's text init)
    work_dir: Path | None = None  # where a method may keep files for the save (PiSSA's initial adapter)
    # A few training batches for methods that look at the data first (EVA); called at most once.
    batches: Callable[[], Iterable[dict]] | None = None


@dataclass
class Prepared:
    """The model to train, and what the Trainer needs besides it."""

    model: Any
    callbacks: list = field(default_factory=list)
    # Builds the optimizer from the model and TrainingArguments (LoRA+); None: the Trainer's AdamW.
    optimizer: Callable[[Any, Any], Any] | None = None
    save_kwargs: dict = field(default_factory=dict)  # extra arguments to ``save_pretrained``


ApplyFn = Callable[[Any, Any, Context], Prepared]


@dataclass(frozen=True)
class TrainMethod:
    name: str
    title: str
    description: str  # one line, for the form and the API
    paper: str
    apply: ApplyFn  # (base model, validated params, context) -> Prepared
    params: type[MethodParams] | None = None  # the spec's ``method_params``; None: it takes none
    uses_lora_group: bool = False  # LoRA-family methods read the spec's ``lora`` group too
    objectives: tuple[str, ...] = ALL_OBJECTIVES
    needs_cuda: bool = False
    artifact: Artifact = "adapter"
    # Extra ``from_pretrained`` arguments for the base model (QLoRA: its 4-bit quantization).
    load_options: Callable[[Any], dict] | None = None

    def dataset_tasks(self) -> tuple[str, ...]:
        tasks: list[str] = []
        for objective in self.objectives:
            tasks += [t for t in OBJECTIVE_TASKS.get(objective, ()) if t not in tasks]
        return tuple(tasks)

    def validate_params(self, raw: dict | None) -> BaseModel | None:
        """The method's parameters from the spec's ``method_params``; pydantic's error if invalid."""
        if self.params is None:
            if raw:
                raise ValueError(f"{self.name} takes no method_params; remove {', '.join(sorted(raw))}")
            return None
        return self.params.model_validate(raw or {})

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "paper": self.paper,
            "objectives": list(self.objectives),
            "needs_cuda": self.needs_cuda,
            "artifact": self.artifact,
            "uses_lora_group": self.uses_lora_group,
            "method_params": self.params.model_json_schema() if self.params else None,
        }


def wrap_peft(model: Any, config: Any, where: str) -> Any:
    """``get_peft_model``, with peft's complaints about the model turned into a SpecError."""
    from peft import get_peft_model

    try:
        return get_peft_model(model, config)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise MethodError(f"{where}: {exc}") from exc
