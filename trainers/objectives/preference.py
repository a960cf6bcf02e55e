"""Preference optimisation from prompt / chosen / rejected rows, through TRL's trainers.

DPO and KTO compare against a frozen reference (with a peft adapter, TRL keeps a frozen copy of
the adapter as the reference); ORPO and SimPO need none. SimPO is TRL's CPO trainer with the
SimPO loss and no behaviour-cloning term (``cpo_alpha=0``), as TRL documents it. KTO learns from
single responses marked good or bad, so each pair becomes two rows. Reward accuracy (how often
the implicit reward ranks chosen above rejected) and the reward margin are reported as metrics.
"""

from __future__ import annotations

import logging
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers.utils import logging as hf_logging

from trainers import methods, train
from trainers.callbacks import RunInfo, SamplePrompt
from trainers.events import EventEmitter
from trainers.objectives.common import (
    ObjectiveCallback,
    attach,
    prepare_model,
    save_lm,
    train_until_done,
    trl_config,
)
from trainers.spec import SpecError, TrainSpec

log = logging.getLogger("trainers")

# As TRL logs them -> as Hone reports them (an "eval_" prefix on TRL's side makes an eval point).
REWARD_METRICS = {
    "rewards/accuracies": "reward_accuracy",
    "rewards/margins": "reward_margin",
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
    "kl": "kl",  # KTO's estimate of the policy's drift from the reference
    "log_odds_ratio": "log_odds_ratio",  # ORPO
}


@dataclass(frozen=True)
class TrlTrainer:
    trainer: type
    config: type
    fixed: dict  # config values that make the objective what it is


def trl_trainer(objective: str) -> TrlTrainer:
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer
    from trl.import_utils import TRLExperimentalWarning

    with warnings.catch_warnings():  # ORPO and CPO live in trl.experimental, which warns on import
        warnings.simplefilter("ignore", TRLExperimentalWarning)
        from trl.experimental.cpo import CPOConfig, CPOTrainer
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return {
        "dpo": TrlTrainer(DPOTrainer, DPOConfig, {}),
        "orpo": TrlTrainer(ORPOTrainer, ORPOConfig, {}),
        "simpo": TrlTrainer(CPOTrainer, CPOConfig, {"loss_type": "simpo", "cpo_alpha": 0.0}),
        # KTO pairs each row with its batch neighbours' for the KL term: the order must stay fixed.
        "kto": TrlTrainer(KTOTrainer, KTOConfig, {"train_sampling_strategy": "sequential"}),
    }[objective]


def run_preference(spec: TrainSpec, emitter: EventEmitter) -> None:
    hf_logging.disable_progress_bar()
    output_dir = Path(spec.output_dir).resolve()
    train.check_inputs(spec)
    objective, t = spec.objective, spec.training
    if objective == "kto" and t.batch_size < 2:
        raise SpecError("training.batch_size: KTO estimates its KL term within a batch; use 2 or more")

    # Data: TRL's standard (untemplated) format, prompt + chosen / rejected; KTO's unpaired rows.
    from datasets import Dataset

    train_rows, eval_rows = train.load_datasets(spec)
    train_set = Dataset.from_list(preference_rows(train_rows, objective, t.seed))
    eval_set = Dataset.from_list(preference_rows(eval_rows, objective, t.seed))

    # Model and trainer
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    steps = train.plan_steps(spec, len(train_set))
    prepared = prepare_model(model, spec, "CAUSAL_LM", steps.total)
    trainable, total = methods.parameter_counts(prepared.model)
    samples_per_step = t.batch_size * t.gradient_accumulation_steps
    info = RunInfo(spec.base_model.name, device, trainable, total, samples_per_step)
    sample = sample_prompt(tokenizer, eval_rows, t.max_seq_length)
    callback = ObjectiveCallback(emitter, tokenizer, info, sample, metrics=REWARD_METRICS)
    args = train.training_arguments(spec, output_dir, steps)
    trainer = attach(trl_preference_trainer(spec, prepared, args, tokenizer, callback, (train_set, eval_set)),
                     prepared)

    # Train, save (only the trained adapter, not the frozen reference copy TRL may have added)
    train_until_done(trainer, callback, spec)
    if "ref" in getattr(prepared.model, "peft_config", {}):
        prepared.model.delete_adapter("ref")
    save_lm(spec, prepared, tokenizer, callback, (len(train_rows), len(eval_rows)))
    emitter.finished("succeeded")


def trl_preference_trainer(spec: TrainSpec, prepared: Any, args: Any, tokenizer: Any, callback: Any,
                           data: tuple[Any, Any]) -> Any:
    """TRL's trainer for the objective, with every TrainingArguments Hone chose plus the objective's own."""
    chosen = trl_trainer(spec.objective)
    config = trl_config(chosen.config, args, max_length=spec.training.max_seq_length,
                        **spec.objective_params().model_dump(), **chosen.fixed)
    ref = reference_model(spec, prepared.model)
    return chosen.trainer(
        model=prepared.model,
        **({"ref_model": ref} if ref is not None else {}),  # only DPO and KTO take one
        args=config,
        train_dataset=data[0],
        eval_dataset=data[1],
        processing_class=tokenizer,
        callbacks=[callback, *train.early_stopping(spec), *prepared.callbacks],
    )


def reference_model(spec: TrainSpec, model: Any) -> Any | None:
    """DPO and KTO compare against the model as it started. TRL keeps a frozen copy of a peft adapter
    (or of a whole model) for that by itself; AdaLoRA allows only one adapter per model, so there the
    reference is the base model loaded once more (an AdaLoRA adapter starts as the identity)."""
    config = getattr(model, "peft_config", {}).get("default")
    if spec.objective not in ("dpo", "kto") or getattr(config, "peft_type", None) != "ADALORA":
        return None
    _, reference, _ = train.load_base_model(spec.base_model, methods.load_options(spec))
    return reference.eval().requires_grad_(False)


def preference_rows(rows: list[dict], objective: str, seed: int) -> list[dict]:
    """Pairs as TRL takes them; for KTO each pair becomes a desirable and an undesirable row, shuffled
    (KTO reads its data in order, and pairs next to each other would share a batch)."""
    pairs = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    if objective != "kto":
        return pairs
    unpaired = [
        {"prompt": r["prompt"], "completion": r[side], "label": side == "chosen"}
        for r in pairs
        for side in ("chosen", "rejected")
    ]
    random.Random(seed).shuffle(unpaired)
    return unpaired


def sample_prompt(tokenizer: Any, rows: list[dict], max_length: int) -> SamplePrompt | None:
    """A held-out prompt to generate from after each eval, with its chosen response as the expectation."""
    for row in rows[:20]:
        ids = tokenizer(row["prompt"])["input_ids"]
        if 0 < len(ids) < max_length:
            return SamplePrompt(row["prompt"], ids, row["chosen"])
    return None
