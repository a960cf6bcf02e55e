"""The forgetting report of a training job: general-text perplexity before and after training.

Tuning on a narrow task can make a model worse at everything else (catastrophic forgetting). The
retention set is Hone's built-in English passages, both sets of them (evaluation's and GPTQ
calibration's: explanation, narrative, letters, dialogue, instructions, numbers, code), which no
training dataset of a user holds. The model is measured as training starts (the base, or the
adapter a continued job starts from) and as it ends, in one process; the two numbers go out as
``metric`` events ``perplexity`` of split ``retention`` (step 0 = before, the last step = after),
which the job page sets beside the task metric and warns about past the team's threshold.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from trainers.evaluation.metrics import score_texts
from trainers.evaluation.texts import EVAL_TEXTS
from trainers.events import EventEmitter
from trainers.quantize.calibration import CALIBRATION_TEXTS

log = logging.getLogger("trainers")

RETENTION_TEXTS: tuple[str, ...] = EVAL_TEXTS + CALIBRATION_TEXTS
SPLIT, METRIC = "retention", "perplexity"  # the series "retention/perplexity"
MAX_LENGTH = 512


def retention_perplexity(model: Any, tokenizer: Any) -> float:
    """Token-weighted perplexity on the retention set, in eval mode (no dropout); the mode is restored."""
    was_training = model.training
    model.eval()
    try:
        total = score_texts(model, tokenizer, RETENTION_TEXTS, max_length=MAX_LENGTH, stride=MAX_LENGTH // 2)
    finally:
        model.train(was_training)
    return total.perplexity


@dataclass
class RetentionCheck:
    before: float

    @classmethod
    def start(cls, model: Any, tokenizer: Any, task_type: str) -> RetentionCheck | None:
        """The "before" measurement, or None where the report does not apply: a classifier, or a run
        of several processes (a sharded model cannot be run by one of them alone)."""
        if task_type != "CAUSAL_LM" or int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return None
        if torch.cuda.is_available() and next(model.parameters()).device.type == "cpu":
            model.to("cuda")  # the Trainer moves it there anyway; scoring on the CPU would be slow
        before = retention_perplexity(model, tokenizer)
        log.info(f"Retention perplexity before training: {before:.3f}")
        return cls(before)

    def finish(self, model: Any, tokenizer: Any, emitter: EventEmitter, last_step: int) -> float:
        after = retention_perplexity(model, tokenizer)
        log.info(f"Retention perplexity after training: {after:.3f} (before {self.before:.3f})")
        emitter.metric(METRIC, step=0, value=self.before, split=SPLIT)
        emitter.metric(METRIC, step=max(last_step, 1), value=after, split=SPLIT)
        return after


@dataclass(frozen=True)
class RetentionReport:
    before: float
    after: float
    increase_percent: float  # how much worse general text got: (after / before - 1) * 100
    threshold_percent: float
    warned: bool


def assess(before: float, after: float, *, max_increase_percent: float) -> RetentionReport:
    """Whether retention dropped beyond the team's threshold: perplexity up more than it allows."""
    increase = (after / before - 1.0) * 100.0
    return RetentionReport(before, after, increase, max_increase_percent, increase > max_increase_percent)
