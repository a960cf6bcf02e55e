"""What a training objective is: its registry entry (``Objective``) and the steps that train it
(``Recipe``), which ``trainers.train.run_training`` calls in order for every objective alike.

The entry is light (no torch; the spec and the platform import the registry). Its recipe lives in
the objective's own file (``sft.py``, ``pretrain.py``, ``classification.py``, ``preference.py``)
and is imported only when a job of that objective runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from trainers.callbacks import EventsCallback
    from trainers.methods.base import Prepared
    from trainers.spec import TrainSpec


class ObjectiveParams(BaseModel):
    """Base of an objective's parameter group: unknown fields are errors, values are final."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Objective:
    name: str
    title: str  # one line, for the form and the API
    tasks: tuple[str, ...]  # the dataset tasks it learns from (checked when a spec is validated)
    recipe: str  # "module:NAME" of its Recipe, imported only when a job of it runs
    params: type[ObjectiveParams] | None = None  # its group of the spec (named after it); None: none
    task_type: Literal["CAUSAL_LM", "SEQ_CLS"] = "CAUSAL_LM"  # what the model predicts (peft's name)
    # Its examples are packed (sft when training.packing is on; pretrain always, in its own way).
    packs: bool = False
    # Prompt-based methods put virtual tokens before the input, so the logits come back longer than
    # the labels: fine for a plain LM loss (peft pads the labels), wrong where a trainer slices
    # logits by position (the preference trainers).
    virtual_tokens: bool = True

    def load_recipe(self) -> Recipe:
        module, name = self.recipe.split(":")
        return getattr(importlib.import_module(module), name)


@dataclass
class Built:
    """What an objective's ``build`` step makes: the model to train and its data, ready for a Trainer."""

    tokenizer: Any
    model: Any  # the base model as loaded; the method (trainers/methods/) is applied after
    device: str
    train_set: Any  # what the Trainer iterates: examples, pre-made batches or a datasets.Dataset
    eval_set: Any
    rows: tuple[int, int]  # training and evaluation rows, for the model card
    collator: Any = None  # None: the trainer's own (TRL's)
    prebatched: bool = False  # train_set holds whole batches (trainers/packing.py)
    examples_per_batch: float | None = None  # None: training.batch_size
    sample: Any = None  # the SamplePrompt generated from after each evaluation, if any
    # A few collated training batches, made only if a method asks (EVA initialises from them).
    first_batches: Callable[[], list] | None = None
    # What this objective's own steps need besides (classification: its labels, sample rows).
    extra: dict[str, Any] = field(default_factory=dict)


# (spec, training rows, evaluation rows) -> Built
BuildFn = Callable[["TrainSpec", list[dict], list[dict]], Built]
# (spec, built, prepared method, TrainingArguments, callback) -> a transformers Trainer (or TRL's)
TrainerFn = Callable[["TrainSpec", Built, "Prepared", Any, "EventsCallback"], Any]
# (spec, built, prepared method, callback) -> None: saves and reports one artifact event or more
SaveFn = Callable[["TrainSpec", Built, "Prepared", "EventsCallback"], None]
# (emitter, built, RunInfo) -> the callback that reports the run and the objective's metrics
CallbackFn = Callable[[Any, Built, Any], "EventsCallback"]


@dataclass(frozen=True)
class Recipe:
    """The steps of one objective. ``check`` refuses what it cannot learn from before any model
    loads; ``build`` loads the model and turns rows into its training data; ``trainer`` makes the
    Trainer; ``save`` writes the artifact. ``metrics`` maps a name as the Trainer (or TRL) logs it
    to the name Hone reports; ``perplexity`` adds exp(eval loss); ``callback`` replaces the
    standard reporting where an objective shows more (classification's confusion matrix)."""

    build: BuildFn
    trainer: TrainerFn
    save: SaveFn
    check: Callable[[TrainSpec], None] | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    perplexity: bool = False
    callback: CallbackFn | None = None
