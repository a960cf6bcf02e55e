"""Preference optimisation from prompt / chosen / rejected rows, through TRL's trainers.

DPO and KTO compare against a frozen reference (with a peft adapter, TRL keeps a frozen copy of
the adapter as the reference); ORPO and SimPO need none. SimPO is TRL's CPO trainer with the
SimPO loss and no behaviour-cloning term (``cpo_alpha=0``), as TRL documents it. KTO learns from
single responses marked good or bad, so each pair becomes two rows. Reward accuracy (how often
the implicit reward ranks chosen above rejected) and the reward margin are reported as metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import warnings
from dataclasses import dataclass
from typing import Any

from trainers import methods, train
from trainers.callbacks import EventsCallback, SamplePrompt
from trainers.objectives.base import Built, Recipe
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


def check(spec: TrainSpec) -> None:
    if spec.objective == "kto" and spec.training.batch_size < 2:
        raise SpecError("training.batch_size: KTO estimates its KL term within a batch; use 2 or more")


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    """TRL's standard (untemplated) format, prompt + chosen / rejected; KTO's unpaired rows."""
    from datasets import Dataset

    objective, t = spec.objective, spec.training
    train_set = Dataset.from_list(preference_rows(train_rows, objective, t.seed))
    eval_set = Dataset.from_list(preference_rows(eval_rows, objective, t.seed))
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    return Built(
        tokenizer, model, device, train_set, eval_set, (len(train_rows), len(eval_rows)),
        sample=sample_prompt(tokenizer, eval_rows, t.max_seq_length),
    )


def save(spec: TrainSpec, built: Built, prepared: methods.Prepared, callback: EventsCallback) -> None:
    """Only the trained adapter, not the frozen reference copy TRL may have added."""
    if "ref" in getattr(prepared.model, "peft_config", {}):
        prepared.model.delete_adapter("ref")
    train.save_lm(spec, built, prepared, callback)


def trl_preference_trainer(
    spec: TrainSpec, built: Built, prepared: methods.Prepared, args: Any, callback: EventsCallback
) -> Any:
    """TRL's trainer for the objective, with every TrainingArguments Hone chose plus the objective's own."""
    chosen = trl_trainer(spec.objective)
    config = trl_config(chosen.config, args, max_length=spec.training.max_seq_length,
                        **spec.objective_params().model_dump(), **chosen.fixed)
    ref = reference_model(spec, prepared.model)
    return chosen.trainer(
        model=prepared.model,
        **({"ref_model": ref} if ref is not None else {}),  # only DPO and KTO take one
        args=config,
        train_dataset=built.train_set,
        eval_dataset=built.eval_set,
        processing_class=built.tokenizer,
        callbacks=[callback, *train.early_stopping(spec), *prepared.callbacks],
    )


def trl_config(config_cls: type, args: Any, **extra: Any) -> Any:
    """A TRL config (a TrainingArguments subclass) with every argument Hone chose, plus ``extra``.

    Copying the fields also keeps Hone's choices where TRL's defaults differ (TRL turns gradient
    checkpointing on, and bf16 on wherever fp16 is off).
    """
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    return config_cls(**(values | extra))


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


RECIPE = Recipe(build=build, trainer=trl_preference_trainer, save=save, check=check, metrics=REWARD_METRICS)
