"""The forgetting report of a training job: general-text perplexity before and after training.

Tuning on a narrow task can make a model worse at everything else (catastrophic forgetting). The
retention set is Hone's built-in English passages, both sets of them (evaluation's and GPTQ
calibration's: explanation, narrative, letters, dialogue, instructions, numbers, code), which no
training dataset of a user holds. The model is measured as training starts (the base, or the
adapter a continued job starts from) and as it ends, in one process; the two numbers go out as
``metric`` events ``perplexity`` of split ``retention`` (step 0 = before, the last step = after),
which the job page sets beside the task metric and warns about past the team's threshold. Where
the team chose one, a small multiple-choice task is measured at both ends too (forgetting_task.py),
sent as ``choice_accuracy`` of split ``retention``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainers.evaluation.metrics import score_texts
from trainers.evaluation.texts import EVAL_TEXTS
from trainers.events import EventEmitter
from trainers.quantize.calibration import CALIBRATION_TEXTS
from trainers.spec import RetentionTaskSpec

log = logging.getLogger("trainers")

RETENTION_TEXTS: tuple[str, ...] = EVAL_TEXTS + CALIBRATION_TEXTS
SPLIT, METRIC = "retention", "perplexity"  # the series "retention/perplexity"
CHOICE_METRIC = "choice_accuracy"  # the series "retention/choice_accuracy"
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
    task: Any = None  # the prepared multiple-choice task (a PreparedHarness), if the team chose one
    task_before: float | None = None

    @classmethod
    def start(
        cls, model: Any, tokenizer: Any, task_type: str, task: RetentionTaskSpec | None = None,
        work_dir: Path | None = None,
    ) -> RetentionCheck | None:
        """The "before" measurement, or None where the report does not apply: a classifier, or a run
        of several processes (a sharded model cannot be run by one of them alone)."""
        if task_type != "CAUSAL_LM" or int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return None
        if torch.cuda.is_available() and next(model.parameters()).device.type == "cpu":
            model.to("cuda")  # the Trainer moves it there anyway; scoring on the CPU would be slow
        check = cls(retention_perplexity(model, tokenizer))
        log.info(f"Retention perplexity before training: {check.before:.3f}")
        if task is not None:
            from trainers.forgetting_task import choice_accuracy, prepare_retention_task

            check.task = prepare_retention_task(task.dataset, (work_dir or Path(".")) / "retention_task")
            check.task_before = choice_accuracy(model, tokenizer, check.task)
            log.info(f"Retention task accuracy before training: {check.task_before:.3f}")
        return check

    def finish(self, model: Any, tokenizer: Any, emitter: EventEmitter, last_step: int) -> float:
        after = retention_perplexity(model, tokenizer)
        log.info(f"Retention perplexity after training: {after:.3f} (before {self.before:.3f})")
        emitter.metric(METRIC, step=0, value=self.before, split=SPLIT)
        emitter.metric(METRIC, step=max(last_step, 1), value=after, split=SPLIT)
        if self.task is not None:
            from trainers.forgetting_task import choice_accuracy

            task_after = choice_accuracy(model, tokenizer, self.task)
            shown = f"{task_after:.3f} (before {self.task_before:.3f})"
            log.info(f"Retention task accuracy after training: {shown}")
            emitter.metric(CHOICE_METRIC, step=0, value=self.task_before, split=SPLIT)
            emitter.metric(CHOICE_METRIC, step=max(last_step, 1), value=task_after, split=SPLIT)
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
