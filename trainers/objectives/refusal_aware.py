"""Refusal-aware tuning (R-Tuning): the model as it starts answers each training question greedily,
its answers are checked with the job's rewards, and a chat dataset is made from them: the questions it
got right keep its own verified answer, the ones it got wrong are answered with ``refusal_aware.refusal``
("I am not sure."). Then it is SFT on that set (``objectives/sft.py``'s data path), so the model learns
to say it does not know where it did not.

The set is written as ``refusal_aware.jsonl`` and reported as a ``dataset`` artifact, which the platform
registers as a dataset of the team made by this job, like rejection sampling's kept rows. Held-out
accuracy, and how often the model refuses and how often it is right when it answers, are reported as
for grpo (``grpo_callback.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from trainers import methods, train
from trainers.callbacks import EventsCallback
from trainers.data import DataError, file_sha256
from trainers.examples import PadCollator
from trainers.objectives import grpo_data, sft
from trainers.objectives.base import Built, Recipe
from trainers.objectives.grpo import MAX_HELDOUT, check_rows_first
from trainers.objectives.grpo_callback import correct, generate, make_callback
from trainers.objectives.refusal_params import RefusalParams
from trainers.objectives.rejection_sampling import write_kept
from trainers.packing import prepare_batches
from trainers.rewards import registry as rewards
from trainers.rewards.base import RewardModels
from trainers.spec import TrainSpec

log = logging.getLogger("trainers")

ARTIFACT = "refusal-aware"  # the dataset's name on the platform: '<job> · refusal-aware rows'


@dataclass
class Judged:
    """The refusal-aware rows (chats), and which questions the model knew."""

    rows: list[dict] = field(default_factory=list)
    known: list[bool] = field(default_factory=list)

    def summary(self) -> str:
        right = sum(self.known)
        return (f"Refusal-aware data: the model answered {len(self.known)} questions, {right} verified "
                f"(its answer kept), {len(self.known) - right} not (answered with the refusal)")  # fmt: skip


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    check_rows_first(spec)  # before any weights load
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    p: RefusalParams = spec.objective_params()  # type: ignore[assignment]
    task = spec.dataset.task
    tasks = [grpo_data.task_of(r, task) for r in train_rows]
    answers = generate(model, tokenizer, [t.prompt for t in tasks], p.max_completion_length)
    judged = judge(tasks, answers, p, spec.reward_models)
    log.info(judged.summary())
    if not any(judged.known):
        raise DataError(
            f"the model got none of the {len(tasks)} questions right, so the data would teach it to refuse "
            "everything; start from a stronger model, or check that the rewards fit the answers",
            file=Path(spec.dataset.path).name,
        )  # fmt: skip
    rows_path = write_kept(Path(spec.output_dir).resolve() / "dataset", judged.rows, f"{ARTIFACT}.jsonl")
    max_length = spec.training.max_seq_length
    train_set = sft.tokenize_splits(tokenizer, judged.rows, [], "chat", max_length)[0]
    eval_set = sft.tokenize_splits(tokenizer, [], eval_rows, task, max_length)[1]  # the reference answers
    batches = prepare_batches(train_set, eval_set, spec.training, tokenizer.pad_token_id)
    heldout = [grpo_data.task_of(r, task) for r in eval_rows[:MAX_HELDOUT]]
    return Built(
        tokenizer, model, device, batches.train, batches.eval, (len(judged.rows), len(eval_rows)),
        collator=batches.collator, prebatched=batches.prebatched,
        examples_per_batch=batches.examples_per_batch,
        first_batches=train.first_batches(train_set, PadCollator(tokenizer.pad_token_id),
                                          spec.training.batch_size),
        extra={"params": p, "heldout": heldout, "rows_path": rows_path, "refusal": p.refusal,
               "reward_models": spec.reward_models},
    )  # fmt: skip


def judge(
    tasks: list[grpo_data.Task], answers: list[str], p: RefusalParams, models: RewardModels | None = None
) -> Judged:
    """Each question with the model's answer where the rewards verify it, with the refusal where not."""
    judged = Judged()
    scored = rewards.totals(p.rewards, answers, [t.answer for t in tasks], models, [t.prompt for t in tasks])
    for task, answer, (_, each) in zip(tasks, answers, scored, strict=True):
        known = correct(p.rewards, each)
        judged.known.append(known)
        reply = answer.strip() if known else p.refusal
        judged.rows.append({"messages": [*task.prompt, {"role": "assistant", "content": reply}]})
    return judged


def save(spec: TrainSpec, built: Built, prepared: methods.Prepared, callback: EventsCallback) -> None:
    """The refusal-aware rows as a dataset artifact (the platform registers it with this job as its
    maker), then the fine-tuned adapter or model as for SFT."""
    path: Path = built.extra["rows_path"]
    callback.emitter.artifact(name=ARTIFACT, artifact_kind="dataset", location=str(path),
                              bytes=path.stat().st_size, sha256=file_sha256(path))  # fmt: skip
    train.save_lm(spec, built, prepared, callback)


RECIPE = Recipe(build=build, trainer=sft.make_trainer, save=save, perplexity=True, callback=make_callback)
