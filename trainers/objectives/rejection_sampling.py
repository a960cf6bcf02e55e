"""Rejection-sampling fine-tuning, difficulty-aware (DART-Math's "stop at m correct, up to a cap"):
the model as it starts answers each training prompt, ``samples_per_round`` answers at a time; the
answers the job's rewards verify are kept (each distinct one once); a prompt stops being sampled
once ``keep_per_prompt`` answers were verified or it has had ``max_samples``, so the hard prompts
get the most samples. Then it is SFT on the kept answers (``objectives/sft.py``'s data path).

The kept set is written as a chat dataset (``kept.jsonl``: the prompt's turns and the verified
answer) and reported as a ``dataset`` artifact, which the platform registers as a dataset of the
team made by this job. Held-out accuracy is reported as for grpo (``grpo_callback.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainers import methods, train
from trainers.callbacks import EventsCallback
from trainers.data import DataError, file_sha256
from trainers.examples import PadCollator, render
from trainers.objectives import grpo_data, sft
from trainers.objectives.base import Built, Recipe
from trainers.objectives.grpo import MAX_HELDOUT, check_rows_first
from trainers.objectives.grpo_callback import correct, make_callback
from trainers.objectives.rejection_params import RejectionParams
from trainers.packing import prepare_batches
from trainers.rewards import registry as rewards
from trainers.rewards.base import RewardModels
from trainers.spec import TrainSpec

log = logging.getLogger("trainers")

PROMPTS_PER_BATCH = 16  # prompts generated for at once; each brings samples_per_round answers


@dataclass
class Sampled:
    """What sampling found: the kept rows (chat), and per prompt how many it took and kept."""

    kept: list[dict] = field(default_factory=list)
    drawn: list[int] = field(default_factory=list)
    verified: list[int] = field(default_factory=list)

    def summary(self) -> str:
        solved = sum(1 for v in self.verified if v)
        return (f"Rejection sampling: {sum(self.drawn)} answers sampled for {len(self.drawn)} prompts, "
                f"{sum(self.verified)} verified, {len(self.kept)} distinct ones kept; {solved} prompts have "
                "one or more")  # fmt: skip


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    check_rows_first(spec)  # before any weights load
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    p: RejectionParams = spec.objective_params()  # type: ignore[assignment]
    task = spec.dataset.task
    sampled = sample_verified(model, tokenizer, [grpo_data.task_of(r, task) for r in train_rows], p,
                              spec.training.seed, spec.reward_models)  # fmt: skip
    log.info(sampled.summary())
    if not sampled.kept:
        raise DataError(
            f"none of the {sum(sampled.drawn)} sampled answers was verified by the rewards, so there is "
            "nothing to fine-tune on; raise rejection_sampling.max_samples, start from a stronger model, "
            "or check that the rewards fit the answers", file=Path(spec.dataset.path).name,
        )  # fmt: skip
    kept_path = write_kept(Path(spec.output_dir).resolve() / "dataset", sampled.kept)
    max_length = spec.training.max_seq_length
    train_set = sft.tokenize_splits(tokenizer, sampled.kept, [], "chat", max_length)[0]  # kept: chats
    eval_set = sft.tokenize_splits(tokenizer, [], eval_rows, task, max_length)[1]  # the reference answers
    batches = prepare_batches(train_set, eval_set, spec.training, tokenizer.pad_token_id)
    heldout = [grpo_data.task_of(r, task) for r in eval_rows[:MAX_HELDOUT]]
    return Built(
        tokenizer, model, device, batches.train, batches.eval, (len(sampled.kept), len(eval_rows)),
        collator=batches.collator, prebatched=batches.prebatched,
        examples_per_batch=batches.examples_per_batch,
        first_batches=train.first_batches(train_set, PadCollator(tokenizer.pad_token_id),
                                          spec.training.batch_size),
        extra={"params": p, "heldout": heldout, "kept_path": kept_path, "sampled": sampled,
               "reward_models": spec.reward_models},
    )  # fmt: skip


def sample_verified(
    model: Any, tokenizer: Any, tasks: list, p: RejectionParams, seed: int, models: RewardModels | None = None
) -> Sampled:
    """Sample in rounds until each prompt has ``keep_per_prompt`` verified answers or ``max_samples``."""
    torch.manual_seed(seed)
    found = Sampled(drawn=[0] * len(tasks), verified=[0] * len(tasks))
    seen: list[set[str]] = [set() for _ in tasks]
    active = list(range(len(tasks)))
    while active:
        for start in range(0, len(active), PROMPTS_PER_BATCH):
            chunk = active[start : start + PROMPTS_PER_BATCH]
            per_prompt = min(p.samples_per_round, p.max_samples - max(found.drawn[i] for i in chunk))
            outputs = sample(model, tokenizer, [tasks[i].prompt for i in chunk], per_prompt, p)
            for i, answers in zip(chunk, outputs, strict=True):
                found.drawn[i] += len(answers)
                _keep(found, seen[i], tasks[i], answers, p, i, models)
        active = [
            i for i in active if found.verified[i] < p.keep_per_prompt and found.drawn[i] < p.max_samples
        ]
    return found


def _keep(
    found: Sampled,
    seen: set[str],
    task: Any,
    answers: list[str],
    p: RejectionParams,
    i: int,
    models: RewardModels | None = None,
) -> None:
    """Every verified answer counts towards the prompt's m; a row is kept once per distinct answer."""
    scored = rewards.totals(
        p.rewards, answers, [task.answer] * len(answers), models, [task.prompt] * len(answers)
    )
    for answer, (_, each) in zip(answers, scored, strict=True):
        if found.verified[i] >= p.keep_per_prompt:
            return
        if not correct(p.rewards, each):
            continue
        found.verified[i] += 1
        if answer.strip() not in seen:
            seen.add(answer.strip())
            found.kept.append({"messages": [*task.prompt, {"role": "assistant", "content": answer.strip()}]})


@torch.no_grad()
def sample(
    model: Any, tokenizer: Any, prompts: list[list[dict]], n: int, p: RejectionParams
) -> list[list[str]]:
    """``n`` sampled answers to each chat prompt, left-padded in one batch."""
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = [tokenizer(render(tokenizer, prompt, generation_prompt=True), add_special_tokens=False)["input_ids"]
           for prompt in prompts]  # fmt: skip
    width = max(len(i) for i in ids)
    input_ids = torch.tensor([[pad] * (width - len(i)) + i for i in ids], device=device)
    mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids], device=device)
    out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, temperature=p.temperature,
                         top_k=0, num_return_sequences=n, max_new_tokens=p.max_completion_length,
                         pad_token_id=pad)  # fmt: skip
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    model.train()
    return [texts[k * n : (k + 1) * n] for k in range(len(prompts))]


def write_kept(directory: Path, rows: list[dict], name: str = "kept.jsonl") -> Path:
    """Chat rows as JSON lines, readable by the platform that registers them as a dataset."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    path.chmod(0o644)
    return path


def save(spec: TrainSpec, built: Built, prepared: methods.Prepared, callback: EventsCallback) -> None:
    """The kept rows as a dataset artifact (the platform registers it with this job as its maker),
    then the fine-tuned adapter or model as for SFT."""
    kept: Path = built.extra["kept_path"]
    callback.emitter.artifact(name="kept", artifact_kind="dataset", location=str(kept),
                              bytes=kept.stat().st_size, sha256=file_sha256(kept))  # fmt: skip
    train.save_lm(spec, built, prepared, callback)


RECIPE = Recipe(build=build, trainer=sft.make_trainer, save=save, perplexity=True, callback=make_callback)
