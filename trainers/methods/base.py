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
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from trainers.objectives.registry import OBJECTIVE_TASKS, OBJECTIVES
from trainers.spec import SpecError

# Every objective (trainers/objectives/registry.py), those that train a text generator, and those
# that take prompt-based methods' virtual tokens (see ``Objective.virtual_tokens``).
ALL_OBJECTIVES: tuple[str, ...] = tuple(OBJECTIVES)
CAUSAL_LM_OBJECTIVES = tuple(o.name for o in OBJECTIVES.values() if o.task_type == "CAUSAL_LM")
CAUSAL_LM_GENERATION = tuple(n for n in CAUSAL_LM_OBJECTIVES if OBJECTIVES[n].virtual_tokens)

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
    # Replaces the Trainer's ``training_step`` (MeZO: two forward passes, no backward):
    # (trainer, model, inputs, num_items_in_batch) -> the batch's loss, detached. None: backpropagation.
    training_step: Callable[..., Any] | None = None
    # Adjusts the Trainer before it builds its optimizer (GaLore: transformers' ``optim`` arguments).
    configure_trainer: Callable[[Any], None] | None = None

    def install(self, trainer: Any) -> Any:
        """Give ``trainer`` the method's optimizer and training step, where it has its own."""
        if self.configure_trainer:
            self.configure_trainer(trainer)
        if self.optimizer:  # e.g. LoRA+'s own learning rate for B; the Trainer still schedules it
            trainer.optimizer = self.optimizer(self.model, trainer.args)
        if self.training_step:
            step = self.training_step
            trainer.training_step = lambda model, inputs, n=None: step(trainer, model, inputs, n)
        return trainer


ApplyFn = Callable[[Any, Any, Context], Prepared]


@dataclass(frozen=True)
class TrainMethod:
    """A training method: the one type the trainer, the catalogue and the platform use (also exported as
    ``trainers.catalogue.Method``)."""

    kind: ClassVar[str] = "train"  # the job kind that runs it
    name: str
    title: str
    description: str  # one line, for the form and the API
    paper: str
    apply: ApplyFn  # (base model, validated params, context) -> Prepared
    method_params: type[MethodParams] | None = None  # the spec's ``method_params``; None: it takes none
    uses_lora_group: bool = False  # LoRA-family methods read the spec's ``lora`` group too
    objectives: tuple[str, ...] = ALL_OBJECTIVES
    needs_cuda: bool = False
    artifact: Artifact = "adapter"  # what a job saves: a peft "adapter" or a whole "model"
    # Extra ``from_pretrained`` arguments for the base model (QLoRA: its 4-bit quantization).
    load_options: Callable[[Any], dict] | None = None

    @property
    def params(self) -> dict[str, type[BaseModel]]:
        """The parameter groups a training job of this method takes, in the order a form shows them."""
        from trainers.spec import LoraParams, TrainingParams

        groups: dict[str, type[BaseModel]] = {"lora": LoraParams} if self.uses_lora_group else {}
        if self.method_params is not None:
            groups["method_params"] = self.method_params
        return groups | {"training": TrainingParams}

    @property
    def dataset_tasks(self) -> tuple[str, ...]:
        """The dataset tasks it can learn from, through the objectives it trains."""
        tasks: list[str] = []
        for objective in self.objectives:
            tasks += [t for t in OBJECTIVE_TASKS.get(objective, ()) if t not in tasks]
        return tuple(tasks)

    def validate_params(self, raw: dict | None) -> BaseModel | None:
        """The method's parameters from the spec's ``method_params``; pydantic's error if invalid."""
        if self.method_params is None:
            if raw:
                raise ValueError(f"{self.name} takes no method_params; remove {', '.join(sorted(raw))}")
            return None
        return self.method_params.model_validate(raw or {})

    def parameters_schema(self) -> dict:
        """A JSON schema for the whole ``params`` object of a job: one property per group."""
        groups = {group: model.model_json_schema() for group, model in self.params.items()}
        return {
            "type": "object",
            "properties": groups,
            "additionalProperties": False,
            "description": f"Parameters of {self.title}; every field has a default.",
        }

    def describe(self) -> dict[str, Any]:
        """The catalogue entry (``GET /api/v1/methods``, ``python -m trainers methods --json``)."""
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


def wrap_peft(model: Any, config: Any, where: str) -> Any:
    """``get_peft_model``, with peft's complaints about the model turned into a SpecError."""
    from peft import get_peft_model

    try:
        return get_peft_model(model, config)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise MethodError(f"{where}: {exc}") from exc
