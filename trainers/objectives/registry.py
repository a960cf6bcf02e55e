"""Which function trains each objective ("module:function", imported only when one runs)."""

from __future__ import annotations

import importlib
import logging

from trainers.events import EventEmitter
from trainers.spec import SpecError, TrainSpec

log = logging.getLogger("trainers")

RUNNERS: dict[str, str] = {
    "pretrain": "trainers.objectives.pretrain:run_pretrain",
    "classification": "trainers.objectives.classification:run_classification",
    "dpo": "trainers.objectives.preference:run_preference",
    "orpo": "trainers.objectives.preference:run_preference",
    "simpo": "trainers.objectives.preference:run_preference",
    "kto": "trainers.objectives.preference:run_preference",
}


def run_objective(spec: TrainSpec, emitter: EventEmitter) -> None:
    """Train ``spec`` with its objective's run function (``sft`` is ``trainers.train.run_training``)."""
    if spec.objective not in RUNNERS:
        known = ", ".join(["sft", *sorted(RUNNERS)])
        raise SpecError(f"objective: unknown objective {spec.objective!r}; known objectives: {known}")
    if spec.training.packing and spec.objective != "pretrain":  # pretrain always packs, in its own way
        log.warning(f"training.packing applies to sft; {spec.objective} trains on padded batches")
    module, name = RUNNERS[spec.objective].split(":")
    getattr(importlib.import_module(module), name)(spec, emitter)
