"""GRPO's live reporting: TRL's reward, KL and completion-length logs as Hone metrics, and at every
evaluation the held-out prompts answered greedily and scored with the job's rewards (accuracy, each
reward's mean) plus a few sample completions with their scores as ``sample`` events.

Accuracy counts a held-out prompt right when every reward that checks the answer gives it full
marks (the rewards that score the form alone count only where no reward checks the answer).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from trainers.callbacks import EventsCallback, RunInfo
from trainers.objectives.base import Built
from trainers.objectives.grpo_data import Task
from trainers.rewards import registry as rewards

log = logging.getLogger("trainers")

# As TRL's GRPOTrainer logs them -> as Hone reports them (each chosen reward adds its own two).
GRPO_METRICS = {
    "reward": "reward",
    "reward_std": "reward_std",
    "kl": "kl",
    "completions/mean_length": "completion_length",
    "completions/clipped_ratio": "completion_clipped",
    "clip_ratio/region_mean": "clip_ratio",
    "entropy": "entropy",
    "frac_reward_zero_std": "groups_without_signal",
}
SAMPLES_PER_EVAL = 3
EVAL_BATCH = 16


@dataclass
class Recent:
    """The newest training batch's completions and each reward's scores of them, for sample events."""

    rows: deque = field(default_factory=lambda: deque(maxlen=8))

    def keep(
        self, name: str, prompts: list, texts: list[str], answers: list[str], scores: list[float]
    ) -> None:
        if not self.rows or len(self.rows[-1]["texts"]) != len(texts) or self.rows[-1]["texts"] != texts:
            self.rows.append({"prompts": prompts, "texts": texts, "answers": answers, "rewards": {}})
        self.rows[-1]["rewards"][name] = scores


class GrpoCallback(EventsCallback):
    def __init__(self, emitter: Any, built: Built, info: RunInfo) -> None:
        p = built.extra["params"]
        names = {f"rewards/{r.name}/mean": f"reward_{r.name}" for r in p.rewards}
        names |= {f"rewards/{r.name}/std": f"reward_{r.name}_std" for r in p.rewards}
        super().__init__(emitter, built.tokenizer, info, None, metrics=GRPO_METRICS | names)
        self.params = p
        self.reward_models: dict[str, str] = built.extra.get("reward_models", {})
        self.heldout: list[Task] = built.extra["heldout"]
        self.recent = Recent()
        self.last_accuracy: float | None = None
        self.refusal: str | None = built.extra.get("refusal")  # refusal_aware: also how often it refuses

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        super().on_train_begin(args, state, control, model=model, **kw)
        if state.global_step == 0 and model is not None:  # the base model's accuracy, to compare
            self.evaluate_heldout(model, 0)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        control = super().on_step_end(args, state, control, model=model, **kw)
        due = (
            state.global_step % max(int(args.eval_steps or 1), 1) == 0 or state.global_step >= state.max_steps
        )
        if due and not self.stop_requested and model is not None:
            self.evaluate_heldout(model, state.global_step)
        return control

    def evaluate_heldout(self, model: Any, step: int) -> None:
        if not self.heldout:
            return
        outputs = generate(
            model, self.tokenizer, [t.prompt for t in self.heldout], self.params.max_completion_length
        )
        scored = rewards.totals(
            self.params.rewards,
            outputs,
            [t.answer for t in self.heldout],
            self.reward_models,
            [t.prompt for t in self.heldout],
        )
        self.last_accuracy = sum(correct(self.params.rewards, each) for _, each in scored) / len(scored)
        self.emitter.metric("accuracy", step=step, value=self.last_accuracy, split="eval")
        self.emitter.metric("reward", step=step, value=sum(t for t, _ in scored) / len(scored), split="eval")
        for choice in self.params.rewards:
            mean = sum(each[choice.label()] for _, each in scored) / len(scored)
            self.emitter.metric(f"reward_{choice.label()}", step=step, value=mean, split="eval")
        if self.refusal is not None:
            self._refusal_metrics(step, outputs, [correct(self.params.rewards, each) for _, each in scored])
        for task, out, (total, each) in list(zip(self.heldout, outputs, scored, strict=True))[
            :SAMPLES_PER_EVAL
        ]:
            self.emitter.sample(
                step=step,
                prompt=task.prompt[-1]["content"],
                output=out,
                expected=task.answer,
                reward=round(total, 4),
                rewards=each,
            )
        self._training_sample(step)

    def _refusal_metrics(self, step: int, outputs: list[str], right: list[bool]) -> None:
        """R-Tuning's two numbers: how often the model refuses, and how often it is right when it answers."""
        refused = [out.strip().startswith(self.refusal or "") for out in outputs]
        self.emitter.metric("refusal_rate", step=step, value=sum(refused) / len(refused), split="eval")
        answered = [ok for ok, no in zip(right, refused, strict=True) if not no]
        if answered:
            value = sum(answered) / len(answered)
            self.emitter.metric("answered_accuracy", step=step, value=value, split="eval")

    def _training_sample(self, step: int) -> None:
        """One completion of the newest training group, with what each reward gave it."""
        if not self.recent.rows:
            return
        batch = self.recent.rows[-1]
        prompt = batch["prompts"][0]
        shown = prompt[-1]["content"] if isinstance(prompt, list) else str(prompt)
        each = {name: scores[0] for name, scores in batch["rewards"].items()}
        self.emitter.sample(
            step=step,
            prompt=shown,
            output=batch["texts"][0],
            expected=batch["answers"][0],
            rewards=each,
            split="train",
        )


def correct(choices: list[rewards.RewardChoice], each: dict[str, float]) -> bool:
    checks = [c for c in choices if rewards.get(c.name).uses_answer]
    checks = checks or [c for c in choices if c.name != "length_penalty"]
    return all(each[c.label()] >= rewards.get(c.name).passing for c in checks)


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: list[list[dict]], max_new_tokens: int) -> list[str]:
    """Greedy answers to chat prompts, in batches, left-padded as generation wants."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs = []
    try:
        for start in range(0, len(prompts), EVAL_BATCH):
            ids = [
                tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)[
                    "input_ids"
                ]
                for p in prompts[start : start + EVAL_BATCH]
            ]
            width = max(len(i) for i in ids)
            input_ids = torch.tensor([[pad] * (width - len(i)) + i for i in ids], device=device)
            mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids], device=device)
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
            outputs += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    finally:
        model.train(was_training)
    return outputs


def make_callback(emitter: Any, built: Built, info: RunInfo) -> EventsCallback:
    return GrpoCallback(emitter, built, info)
