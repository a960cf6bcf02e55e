"""The bridge from the transformers Trainer to Hone events, and the SIGTERM checkpoint.

``EventsCallback`` reports the run as it happens; it also carries the stop flag that a SIGTERM
sets, so the Trainer saves a checkpoint at the end of the current step and stops cleanly.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainers import throughput
from trainers.events import EventEmitter
from trainers.throughput import TokenRate

log = logging.getLogger("trainers")

TRAIN_METRICS = ("loss", "learning_rate", "grad_norm")
PROGRESS_MIN_INTERVAL_S = 1.0  # a progress event per step would flood the UI on fast runs
SAMPLE_MAX_NEW_TOKENS = 32


@dataclass(frozen=True)
class SamplePrompt:
    """A fixed held-out prompt generated from after every eval, so users can watch it improve."""

    shown: str  # what the user sees as the prompt
    ids: list[int]  # the rendered prompt as the model gets it
    expected: str | None


@dataclass(frozen=True)
class RunInfo:
    model_name: str
    device: str
    trainable_params: int
    total_params: int
    samples_per_step: int


class EventsCallback(TrainerCallback):
    """Reports the run as events; also the objective's own metrics, from the Trainer's logs.

    ``metrics`` maps a name as the Trainer (or TRL) logs it to the name Hone reports, e.g.
    ``{"rewards/accuracies": "reward_accuracy"}``; an ``eval_`` prefix on the log key makes the
    point an eval one. ``perplexity`` adds exp(eval loss), the usual reading of an LM's loss.
    """

    def __init__(
        self, emitter: EventEmitter, tokenizer: Any, info: RunInfo, sample: SamplePrompt | None, *,
        metrics: dict[str, str] | None = None, perplexity: bool = False,
    ) -> None:
        self.emitter = emitter
        self.tokenizer = tokenizer
        self.info = info
        self.sample_prompt = sample
        self.metrics = metrics or {}
        self.perplexity = perplexity
        self.last_eval: dict[str, float | None] = {}  # the objective's metrics at the last evaluation
        self.stop_requested = False
        self.last_train_loss: float | None = None
        self.last_eval_loss: float | None = None
        self._start_time = 0.0
        self._start_step = 0
        self._last_progress = 0.0
        self.token_rate: TokenRate | None = None  # several processes: tokens/s per rank (train.py)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any):
        self._start_time = time.monotonic()
        self._start_step = state.global_step  # > 0 when resuming
        self.emitter.started(
            total_steps=state.max_steps,
            epochs=args.num_train_epochs,
            trainable_params=self.info.trainable_params,
            total_params=self.info.total_params,
            device=self.info.device,
            model=self.info.model_name,
        )

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any):
        now = time.monotonic()
        last = state.global_step >= state.max_steps
        if self.stop_requested or last or now - self._last_progress >= PROGRESS_MIN_INTERVAL_S:
            self._last_progress = now
            self._emit_progress(state, now)
        if args.world_size > 1:
            # SIGTERM may reach one rank only (the others' pods, or processes, were not stopped):
            # every rank must then save the same checkpoint and stop at the same step together.
            self.stop_requested = agreed(self.stop_requested, args)
        if self.stop_requested:
            log.info(f"Stopping at step {state.global_step} on SIGTERM; saving a checkpoint to resume from")
            control.should_save = True
            control.should_evaluate = False  # get the checkpoint down before the grace period ends
            control.should_training_stop = True
        return control

    def _emit_progress(self, state: TrainerState, now: float) -> None:
        done = state.global_step - self._start_step
        elapsed = now - self._start_time
        per_step = elapsed / done if done > 0 else None
        self.emitter.progress(
            step=state.global_step,
            total=state.max_steps,
            epoch=round(state.epoch or 0.0, 4),
            eta_seconds=round(per_step * (state.max_steps - state.global_step), 1) if per_step else None,
            samples_per_second=round(self.info.samples_per_step / per_step, 3) if per_step else None,
        )

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict | None = None, **kw: Any):
        for name in TRAIN_METRICS:
            if logs and name in logs:
                self.emitter.metric(name, step=state.global_step, value=_finite(logs[name]), split="train")
        if logs and "loss" in logs:
            self.last_train_loss = _finite(logs["loss"])
            if self.token_rate is not None:  # on every rank: the rates are gathered
                throughput.report(self.emitter, self.token_rate.rates(), state.global_step)
        self._objective_metrics(state.global_step, logs or {})

    def _objective_metrics(self, step: int, logs: dict) -> None:
        for key, value in logs.items():
            split, name = ("eval", key.removeprefix("eval_")) if key.startswith("eval_") else ("train", key)
            if name in self.metrics and isinstance(value, int | float):
                point = self.emitter.metric(self.metrics[name], step=step, value=value, split=split)
                if split == "eval":
                    self.last_eval[self.metrics[name]] = point["value"]
        if self.perplexity and "eval_loss" in logs:
            loss = logs["eval_loss"]
            ppl = math.exp(loss) if loss < 50 else None  # beyond that it is no longer a readable number
            point = self.emitter.metric("perplexity", step=step, value=ppl, split="eval")
            self.last_eval["perplexity"] = point["value"]

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict | None = None, model: Any = None, **kw: Any):
        if metrics and "eval_loss" in metrics:
            self.last_eval_loss = _finite(metrics["eval_loss"])
            self.emitter.metric("loss", step=state.global_step, value=self.last_eval_loss, split="eval")
        # A sample is generated by rank 0 alone, on its whole copy of the model (DDP); a sharded
        # model (FSDP) would need every rank in each forward pass, so it shows none.
        if self.sample_prompt is not None and model is not None and _generates(args):
            output = generate_greedy(model, self.tokenizer, self.sample_prompt.ids)
            self.emitter.sample(step=state.global_step, prompt=self.sample_prompt.shown, output=output,
                                expected=self.sample_prompt.expected)

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any):
        location = os.path.abspath(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))
        self.emitter.checkpoint(step=state.global_step, location=location)


def agreed(flag: bool, args: TrainingArguments) -> bool:
    """True on every rank when it is true on any (one all-reduce of one number per step)."""
    import torch.distributed as dist

    device = args.device if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _generates(args: TrainingArguments) -> bool:
    return args.world_size == 1 or (args.process_index == 0 and not args.fsdp)


def _finite(value: Any) -> float | None:
    """JSON has no NaN: a diverged loss is reported as null (and the UI shows a gap)."""
    value = float(value)
    return value if math.isfinite(value) else None


@torch.no_grad()
def generate_greedy(model: Any, tokenizer: Any, prompt_ids: list[int],
                    max_new_tokens: int = SAMPLE_MAX_NEW_TOKENS) -> str:
    """Greedy continuation of a prompt, decoded without special tokens."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)  # (1, T)
    try:
        output = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    finally:
        model.train(was_training)
    return tokenizer.decode(output[0, len(prompt_ids):], skip_special_tokens=True)


@contextmanager
def checkpoint_on_sigterm(callback: EventsCallback) -> Iterator[None]:
    """While training, SIGTERM only raises the callback's stop flag (the checkpoint comes first).

    The handler does nothing else: it runs between two bytecodes of whatever the main thread is
    doing, possibly inside the event emitter.
    """

    def request_stop(signum: int, frame: Any) -> None:
        callback.stop_requested = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
