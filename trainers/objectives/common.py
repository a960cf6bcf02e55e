"""What the objectives share beyond ``trainers.train``: more metrics from the Trainer's logs, the
method for a peft task type, TRL configs built from Hone's TrainingArguments, train-or-stop, save.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from transformers import TrainerControl, TrainerState, TrainingArguments

from trainers import methods, train
from trainers.callbacks import EventsCallback, checkpoint_on_sigterm
from trainers.spec import TrainSpec

log = logging.getLogger("trainers")


class ObjectiveCallback(EventsCallback):
    """``EventsCallback`` plus the objective's own metrics, from the Trainer's logs.

    ``metrics`` maps a name as the Trainer (or TRL) logs it to the name Hone reports, e.g.
    ``{"rewards/accuracies": "reward_accuracy"}``; an ``eval_`` prefix on the log key makes the
    point an eval one. ``perplexity`` adds exp(eval loss), the usual reading of an LM's loss.
    """

    def __init__(self, *args: Any, metrics: dict[str, str], perplexity: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.metrics = metrics
        self.perplexity = perplexity
        self.last_eval: dict[str, float | None] = {}

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict | None = None, **kw: Any):
        super().on_log(args, state, control, logs=logs, **kw)
        for key, value in (logs or {}).items():
            split, name = ("eval", key.removeprefix("eval_")) if key.startswith("eval_") else ("train", key)
            if name in self.metrics and isinstance(value, int | float):
                hone_name = self.metrics[name]
                point = self.emitter.metric(hone_name, step=state.global_step, value=value, split=split)
                if split == "eval":
                    self.last_eval[hone_name] = point["value"]
        if self.perplexity and logs and "eval_loss" in logs:
            ppl = _perplexity(logs["eval_loss"])
            self.last_eval["perplexity"] = self.emitter.metric(
                "perplexity", step=state.global_step, value=ppl, split="eval"
            )["value"]


def _perplexity(loss: float) -> float | None:
    import math

    return math.exp(loss) if loss < 50 else None  # beyond that it is no longer a readable number


def prepare_model(
    model: Any, spec: TrainSpec, task_type: str, total_steps: int,
    batches: Callable[[], Iterable[dict]] | None = None,
) -> methods.Prepared:
    """The spec's method (trainers/methods/) on the base model; ``task_type`` is peft's (CAUSAL_LM or
    SEQ_CLS: peft then also trains and saves the classification head, ``classifier`` / ``score``).
    With ``init_adapter`` a finished job's adapter is trained further instead.
    ``batches``: a few collated training batches, for methods that look at the data first (EVA)."""
    if spec.init_adapter:
        return methods.Prepared(train.load_trainable_adapter(model, spec.init_adapter))
    ctx = methods.Context(
        task_type=task_type,
        total_steps=total_steps,  # for schedules inside a method (AdaLoRA's rank budget)
        model_source=spec.base_model.path or spec.base_model.hub_id,
        work_dir=Path(spec.output_dir).resolve(),
        batches=batches,
    )
    return methods.apply_method(model, spec, ctx)


def first_batches(examples: list[dict], collator: Callable, size: int, n: int = 8) -> Callable[[], list]:
    """The first ``n`` collated training batches, made only if a method asks (EVA initialises from them)."""
    first = examples[: n * size]
    return lambda: [collator(first[i : i + size]) for i in range(0, len(first), size)]


def attach(trainer: Any, prepared: methods.Prepared) -> Any:
    """What the method adds to the Trainer besides the model: its optimizer (LoRA+), if any."""
    if prepared.optimizer:
        trainer.optimizer = prepared.optimizer(prepared.model, trainer.args)
    return trainer


def save_lm(spec: TrainSpec, prepared: methods.Prepared, tokenizer: Any, callback: EventsCallback,
            rows: tuple[int, int]) -> None:
    """The trained adapter (or model, for methods that train the model itself) with its card; one
    artifact event."""
    kind = methods.get(spec.method).artifact
    output_dir = Path(spec.output_dir).resolve()
    artifact_dir = train.save_adapter(prepared.model, tokenizer, output_dir / kind, **prepared.save_kwargs)
    train.write_model_card(artifact_dir, spec, *rows, callback)
    train.emit_artifact(callback.emitter, artifact_dir, kind)


def trl_config(config_cls: type, args: TrainingArguments, **extra: Any) -> Any:
    """A TRL config (a TrainingArguments subclass) with every argument Hone chose, plus ``extra``.

    Copying the fields also keeps Hone's choices where TRL's defaults differ (TRL turns gradient
    checkpointing on, and bf16 on wherever fp16 is off).
    """
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    return config_cls(**(values | extra))


def train_until_done(trainer: Any, callback: EventsCallback, spec: TrainSpec) -> None:
    """Train (resuming if the spec says so); on SIGTERM, checkpoint and end the process with 143."""
    with checkpoint_on_sigterm(callback):
        trainer.train(resume_from_checkpoint=spec.resume_from)
    if callback.stop_requested:
        signal.raise_signal(signal.SIGTERM)
        raise SystemExit(143)  # only reached where SIGTERM's handler returns
