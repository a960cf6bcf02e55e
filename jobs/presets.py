"""The guided job's presets, and the plan a choice amounts to.

A preset picks the LoRA rank, the epochs and the learning rate from the model's size and the
dataset's size; the batch size follows from memory. The values, and where they come from:

- Rank 8 / 16 / 32 for quick / balanced / best, on every linear layer, alpha = 2 × rank.
  Hu et al. 2021 ("LoRA", §7.2) found small ranks (even 1–8) already match full fine-tuning
  on their tasks; Dettmers et al. 2023 ("QLoRA", §4) found adapting all linear layers matters
  more than the rank; Raschka 2023 ("Practical Tips for Finetuning LLMs Using LoRA") found
  alpha = 2 × rank a reliable default. Higher ranks learn more and cost little memory.
- Learning rate 2e-4, and 1e-4 for models of 20B parameters or more (QLoRA's hyperparameters,
  Appendix B: 2e-4 for 7B/13B, 1e-4 for 33B/65B). Pico models under 50M parameters (demos and
  tests) get 2e-3: at 2e-4 they barely move in a few hundred steps.
- Epochs: quick 1; balanced 3 (2 from 10,000 rows, 1 from 100,000); best 5 under 1,000 rows, 3
  under 100,000, else 2. Instruction-tuning recipes use 1–3 epochs (QLoRA; the Alpaca recipe:
  3); small datasets need more passes, large ones overfit with them. Epochs are raised until
  the run has at least 30 / 100 / 200 optimizer steps, so a tiny dataset still trains.
- An effective batch of 8 rows: the per-device batch halves (8, 4, 2, 1) until the estimate
  fits the compute profile, and gradient accumulation makes up the rest.
- The max length comes from the data step (it defaults to cover the longest rows sampled).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from jobs import sizing
from jobs.models import ComputeProfile
from trainers import estimate
from trainers.spec import LoraParams, TrainingParams

EFFECTIVE_BATCH = 8
MAX_EPOCHS = 20
PICO_PARAMETERS = 50_000_000
LARGE_PARAMETERS = 20_000_000_000


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    summary: str
    rank: int
    min_steps: int
    epochs_for: Callable[[int], int]


PRESETS = {
    "quick": Preset(
        "quick",
        "Quick",
        "A first result in the least time: a small adapter, one pass over the data.",
        8,
        30,
        lambda rows: 1,
    ),
    "balanced": Preset(
        "balanced",
        "Balanced",
        "Good results for most data: a medium adapter, a few passes.",
        16,
        100,
        lambda rows: 3 if rows < 10_000 else 2 if rows < 100_000 else 1,
    ),
    "best": Preset(
        "best",
        "Best quality",
        "The most the data can teach: a larger adapter, more passes; slower.",
        32,
        200,
        lambda rows: 5 if rows < 1_000 else 3 if rows < 100_000 else 2,
    ),
}
DEFAULT_PRESET = "balanced"


def learning_rate(parameters: int | None) -> float:
    if parameters is not None and parameters < PICO_PARAMETERS:
        return 2e-3
    if parameters is not None and parameters >= LARGE_PARAMETERS:
        return 1e-4
    return 2e-4


def held_out(rows: int, eval_fraction: float) -> int:
    """Rows the trainer keeps for evaluation (as ``trainers.train.load_datasets`` counts them)."""
    return min(max(1, round(rows * eval_fraction)), 1000, max(rows - 1, 0))


def preset_params(
    preset: Preset, *, facts: sizing.ModelFacts, rows: int, max_length: int, profile: ComputeProfile | None
) -> dict:
    """The parameters a preset picks for this model, data and profile (validated, defaults filled)."""
    train_rows = max(rows - held_out(rows, TrainingParams().eval_fraction), 1)
    epochs = preset.epochs_for(rows)
    steps_per_epoch = math.ceil(train_rows / EFFECTIVE_BATCH)
    epochs = min(max(epochs, math.ceil(preset.min_steps / steps_per_epoch)), MAX_EPOCHS)
    batch = EFFECTIVE_BATCH
    while batch > 1:
        fit = sizing.training_fit(facts, profile, rank=preset.rank, seq_len=max_length, batch_size=batch)
        if fit is None or fit.fits is not False:
            break
        batch //= 2
    lora = LoraParams(r=preset.rank, alpha=2 * preset.rank)
    training = TrainingParams(
        learning_rate=learning_rate(facts.parameters),
        epochs=epochs,
        batch_size=batch,
        gradient_accumulation_steps=EFFECTIVE_BATCH // batch,
        max_seq_length=max_length,
    )
    return {"lora": lora.model_dump(), "training": training.model_dump()}


class ParamsInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def with_overrides(params: dict, overrides: dict[str, object]) -> dict:
    """The preset's parameters with the user's advanced settings on top, validated by the spec."""
    result, errors = {}, {}
    for group, model in (("lora", LoraParams), ("training", TrainingParams)):
        values = {**params[group], **{k: v for k, v in overrides.items() if k in model.model_fields}}
        try:
            result[group] = model(**values).model_dump()
        except ValidationError as exc:
            for error in exc.errors():
                errors[str(error["loc"][0]) if error["loc"] else group] = error["msg"]
    if errors:
        raise ParamsInvalid(errors)
    return result


@dataclass
class Plan:
    """What a run will do, in numbers the review page puts into words."""

    params: dict
    rows: int
    train_rows: int
    eval_rows: int
    steps: int
    eval_every: int
    trainable: int | None
    parameters: int | None
    fit: sizing.Fit | None
    seconds: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def trainable_share(self) -> float | None:
        if not self.trainable or not self.parameters:
            return None
        return 100 * self.trainable / self.parameters


def plan(
    params: dict, *, facts: sizing.ModelFacts, rows: int, mean_tokens: float, profile: ComputeProfile | None
) -> Plan:
    t, lora = params["training"], params["lora"]
    eval_rows = held_out(rows, t["eval_fraction"])
    train_rows = max(rows - eval_rows, 1)
    steps = estimate.optimizer_steps(
        train_rows, t["batch_size"], t["gradient_accumulation_steps"], t["epochs"]
    )
    trainable = (
        estimate.lora_parameter_count(facts.shape, lora["r"], lora["target_modules"]) if facts.shape else None
    )
    fit = sizing.training_fit(
        facts, profile, rank=lora["r"], seq_len=t["max_seq_length"], batch_size=t["batch_size"]
    )
    seconds = None
    if fit and fit.device and facts.parameters:
        tokens = min(mean_tokens, t["max_seq_length"])
        seconds = estimate.training_time(
            total_params=facts.parameters,
            trainable=trainable or 0,
            tokens_per_epoch=int(train_rows * tokens),
            epochs=t["epochs"],
            steps=steps,
            eval_tokens=int(eval_rows * tokens),
            evals=t["evals_per_run"],
            device=fit.device,
        ).seconds
    return Plan(
        params,
        rows,
        train_rows,
        eval_rows,
        steps,
        max(1, math.ceil(steps / t["evals_per_run"])),
        trainable,
        facts.parameters,
        fit,
        seconds,
    )
