"""The guided job's presets: a method and its hyperparameters per objective, and the plan they make.

A preset (quick / balanced / best quality) picks the training method, the adapter size, the
epochs, the learning rate and the objective's own parameters from the model's size, the
dataset's size and the compute profile. The values, and where they come from:

- Method. LoRA by default. "Best quality" fully fine-tunes a model of up to 1B parameters when
  that fits the profile (every weight learns; Howard & Ruder 2018 "ULMFiT"); classifiers of up to
  350M parameters are fully fine-tuned from "balanced" on, the standard recipe for BERT-style
  encoders (Devlin et al. 2019, §4). On a GPU profile, "quick" trains models of 6B parameters or
  more with QLoRA, and any preset falls back to QLoRA when LoRA would not fit: a 4-bit base
  matches 16-bit LoRA's quality (Dettmers et al. 2023 "QLoRA", §5) in about a quarter of the
  weights' memory.
- LoRA rank 8 / 16 / 32, every linear layer, alpha = 2 × rank. Hu et al. 2021 ("LoRA", §7.2):
  small ranks already match full fine-tuning; QLoRA §4: adapting all linear layers matters more
  than the rank; Raschka 2023 ("Practical Tips for Finetuning LLMs Using LoRA"): alpha = 2 × rank.
- Learning rates (adapter / full fine-tuning), then × 10 for pico models under 10M parameters
  (demos and tests: they barely move otherwise) and × 0.5 from 20B parameters (QLoRA App. B: 2e-4
  for 7B/13B, 1e-4 for 33B/65B):
  sft and pretrain 2e-4 / 2e-5 (QLoRA App. B; Alpaca and Zephyr's full SFT: 2e-5);
  classification 5e-4 / 1e-4 (LoRA paper Table 9: 4e-4-5e-4 for RoBERTa with LoRA; for full
  fine-tuning BERT §A.3 says 2e-5-5e-5, but on small encoders such as MiniLM and a few thousand
  rows 1e-4 measured better on every task tried: docs/presets.md, bench/preset_quality.py);
  dpo and kto 5e-6 / 5e-7 (Zephyr, Tunstall et al. 2023: 5e-7 for
  full DPO, the alignment handbook's LoRA DPO recipe 5e-6; KTO paper follows DPO's settings);
  simpo 5e-6 / 1e-6 (SimPO paper, Meng et al. 2024: 3e-7-1e-6); orpo 5e-5 / 8e-6 (ORPO paper, Hong
  et al. 2024: 8e-6 for Mistral-7B).
- Objective parameters: DPO beta 0.1 (Rafailov et al. 2023, §6), KTO beta 0.1 (Ethayarajh et al.
  2024), ORPO lambda 0.1 (Hong et al. 2024), SimPO beta 2.0 and gamma 0.5 (Meng et al. 2024).
- Epochs, raised until the run has at least 30 / 100 / 200 optimizer steps: instruction tuning
  1 / 3 / 5 on small data, fewer on large (QLoRA and Alpaca: 1-3); continued pre-training 1 / 2 / 3
  (one pass suffices on a large corpus, Gururangan et al. 2020); classification 2 / 2 / 3 (BERT
  §A.3: 2-4; at 1e-4 two passes matched three at 3e-5 in two thirds of the CPU-seconds,
  docs/presets.md); preference 1 / 2 / 3 (Zephyr compares 1 and 3 epochs of DPO).
- Classifiers train with a class-balanced loss (trainers/objectives/classification.py), which
  gained 17 points of macro-F1 on an imbalanced real task (docs/presets.md). A sentence-transformers
  encoder fine-tuned whole classifies from the pooling its checkpoint declares (mean for MiniLM),
  its head starting as the frozen baseline's logistic regression with its logits × 0.2 (linear
  probing then fine-tuning, Kumar et al. 2022; trainers/pooled_classifier.py): with both, the
  balanced preset beat the frozen baseline on all three real tasks of bench/preset_quality.py,
  where [CLS] pooling lost on two.
- Warmup: 10% of the steps for classification (BERT's recipe; a new head's first updates are
  large), 3% (the trainer's default) elsewhere.
- Batches: 8 rows per update (16 for classifiers, BERT's smallest), the per-device batch halving
  until the estimate fits, gradient accumulation making up the rest; KTO keeps at least 2 per
  device (its KL term is estimated within a batch). Continued pre-training packs rows.
- Length grouping for instruction tuning in "quick" and "balanced": batches of similar lengths
  waste little compute on padding (1.6-1.7x the tokens/s of transformers' padding-free collator
  on varied lengths, bench/sft_throughput.py) at a slightly higher loss than fully shuffled
  batches, which "best quality" keeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from jobs.guided import sizing
from jobs.models import ComputeProfile
from trainers import catalogue
from trainers.objectives.params import OBJECTIVE_PARAMS
from trainers.spec import LoraParams, TrainingParams

EFFECTIVE_BATCH = 8
MAX_EPOCHS = 20
PICO_PARAMETERS = 10_000_000
LARGE_PARAMETERS = 20_000_000_000
FULL_FT_PARAMETERS = 1_000_000_000
FULL_FT_CLASSIFIER_PARAMETERS = 350_000_000
QLORA_PARAMETERS = 6_000_000_000
LORA_FAMILY = ("lora", "qlora", "loraplus")
PREFERENCE = ("dpo", "orpo", "simpo", "kto")

# objective -> (learning rate with an adapter, with full fine-tuning); sources above.
LEARNING_RATES: dict[str, tuple[float, float]] = {
    "sft": (2e-4, 2e-5),
    "pretrain": (2e-4, 2e-5),
    "classification": (5e-4, 1e-4),
    "dpo": (5e-6, 5e-7),
    "kto": (5e-6, 5e-7),
    "simpo": (5e-6, 1e-6),
    "orpo": (5e-5, 8e-6),
    "grpo": (1e-5, 1e-6),  # RL: far below SFT's (trainers/objectives/grpo_params.py)
}
OBJECTIVE_DEFAULTS: dict[str, dict] = {
    "dpo": {"beta": 0.1},
    "kto": {"beta": 0.1},
    "orpo": {"beta": 0.1},
    "simpo": {"beta": 2.0, "simpo_gamma": 0.5},
    "grpo": {},  # GrpoParams' own defaults: a group of 8, exact match, the paper's beta
}
WARMUP: dict[str, float] = {"classification": 0.1}  # share of the steps; others: the trainer's default
EPOCHS: dict[str, dict[str, Callable[[int], int]]] = {
    "sft": {
        "quick": lambda rows: 1,
        "balanced": lambda rows: 3 if rows < 10_000 else 2 if rows < 100_000 else 1,
        "best": lambda rows: 5 if rows < 1_000 else 3 if rows < 100_000 else 2,
    },
    "pretrain": {
        "quick": lambda rows: 1,
        "balanced": lambda rows: 2 if rows < 10_000 else 1,
        "best": lambda rows: 3 if rows < 100_000 else 1,
    },
    "classification": {"quick": lambda rows: 2, "balanced": lambda rows: 2, "best": lambda rows: 3},
    "preference": {"quick": lambda rows: 1, "balanced": lambda rows: 2, "best": lambda rows: 3},
    "grpo": {"quick": lambda rows: 1, "balanced": lambda rows: 1, "best": lambda rows: 2},
}


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    summary: str
    rank: int
    min_steps: int


PRESETS = {
    "quick": Preset("quick", "Quick", "A first result in the least time: a small adapter, one pass.", 8, 30),
    "balanced": Preset(
        "balanced", "Balanced", "Good results for most data: a medium adapter, a few passes.", 16, 100
    ),
    "best": Preset(
        "best",
        "Best quality",
        "The most the data can teach: every weight of a small model, or a larger adapter; slower.",
        32,
        200,
    ),
}
DEFAULT_PRESET = "balanced"


def learning_rate(parameters: int | None, objective: str = "sft", method: str = "lora") -> float:
    adapter, full = LEARNING_RATES[objective]
    rate = full if method == "full" else adapter
    if parameters is not None and parameters < PICO_PARAMETERS:
        return round(rate * 10, 12)
    if parameters is not None and parameters >= LARGE_PARAMETERS:
        return rate / 2
    return rate


# GRPO samples a group per prompt: 4 prompts of 8 answers make 32 completions a step.
GRPO_PROMPTS_PER_STEP = 4


def effective_batch(objective: str) -> int:
    if objective == "grpo":
        return GRPO_PROMPTS_PER_STEP
    return 16 if objective == "classification" else EFFECTIVE_BATCH


def held_out(rows: int, eval_fraction: float) -> int:
    """Rows the trainer keeps for evaluation (as ``trainers.train.load_datasets`` counts them)."""
    return min(max(1, round(rows * eval_fraction)), 1000, max(rows - 1, 0))


@dataclass(frozen=True)
class Sizing:
    """What a preset looks at: the model, the data and where it runs."""

    facts: sizing.ModelFacts
    rows: int
    max_length: int
    profile: ComputeProfile | None

    def fit(
        self, method: str, rank: int, batch: int, objective: str, group: int | None = None
    ) -> sizing.Fit | None:
        """Memory for ``batch`` rows; a grpo batch's prompts each bring their ``group`` of answers
        (None: grpo's default group), all in memory at once."""
        if objective == "grpo":
            batch *= group or OBJECTIVE_PARAMS["grpo"]().num_generations
        return sizing.training_fit(
            self.facts,
            self.profile,
            rank=rank,
            seq_len=self.max_length,
            batch_size=batch,
            method=method,
            reference=objective in ("dpo", "kto", "grpo"),
        )

    @property
    def on_gpu(self) -> bool:
        device = sizing.device_of(self.profile)
        return device is not None and device.kind == "gpu"


@dataclass
class Recipe:
    """A preset's choice for one objective: the method, the job's params and why."""

    preset: Preset
    objective: str
    method: str
    params: dict
    reasons: list[str] = field(default_factory=list)

    @property
    def method_entry(self) -> catalogue.Method:
        return catalogue.get(self.method)


def trains(method: str, objective: str) -> bool:
    """Whether the catalogue has ``method`` and it trains ``objective``."""
    entry = catalogue.METHODS.get(method)
    return entry is not None and objective in entry.objectives


def _fits(s: Sizing, method: str, rank: int, objective: str, batch: int = 1) -> bool:
    fit = s.fit(method, rank, batch, objective)
    return fit is None or fit.fits is not False


def choose_method(preset: Preset, objective: str, s: Sizing) -> tuple[str, str]:
    """The method a preset trains with here, and the reason in plain words."""
    params = s.facts.parameters or 0
    full_up_to = FULL_FT_PARAMETERS if preset.key == "best" else 0
    if objective == "classification" and preset.key != "quick":
        full_up_to = max(full_up_to, FULL_FT_CLASSIFIER_PARAMETERS)
    if params and params <= full_up_to and trains("full", objective) and _fits(s, "full", 0, objective):
        return "full", "the model is small enough that every weight can train"
    if s.on_gpu and trains("qlora", objective):
        if preset.key == "quick" and params >= QLORA_PARAMETERS:
            return "qlora", "a large model on a GPU: a 4-bit base trains fastest in the least memory"
        if not _fits(s, "lora", preset.rank, objective) and _fits(s, "qlora", preset.rank, objective):
            return "qlora", "LoRA on a 16-bit base would not fit; a 4-bit base does"
    return "lora", "a small adapter on the frozen model: little memory, most of the quality"


def _batch(s: Sizing, method: str, rank: int, objective: str) -> tuple[int, int]:
    """(per-device batch, accumulation): halve the batch until it fits, accumulate the rest."""
    total = effective_batch(objective)
    smallest = 2 if objective == "kto" else 1
    batch = total
    while batch > smallest and not _fits(s, method, rank, objective, batch):
        batch //= 2
    return batch, max(1, total // batch)


def _epochs(preset: Preset, objective: str, rows: int, batch_total: int) -> int:
    table = EPOCHS["preference" if objective in PREFERENCE else objective]
    train_rows = max(rows - held_out(rows, TrainingParams().eval_fraction), 1)
    steps_per_epoch = math.ceil(train_rows / batch_total)
    return min(max(table[preset.key](rows), math.ceil(preset.min_steps / steps_per_epoch)), MAX_EPOCHS)


def completion_budget(objective: str) -> int:
    """Tokens a sampling objective's answers may add to the longest row (``max_completion_length``):
    a grpo row's prompt and the model's answer must fit ``max_seq_length`` together."""
    model = OBJECTIVE_PARAMS.get(objective)
    return getattr(model(), "max_completion_length", 0) if model is not None else 0


def recipe(preset: Preset, objective: str, s: Sizing, *, method: str = "") -> Recipe:
    """The preset's method (or ``method``, when the user chose one) and validated params."""
    reason = "your choice"
    if not method:
        method, reason = choose_method(preset, objective, s)
    batch, accumulation = _batch(s, method, preset.rank, objective)
    training = TrainingParams(
        learning_rate=learning_rate(s.facts.parameters, objective, method),
        warmup_ratio=WARMUP.get(objective, TrainingParams().warmup_ratio),
        epochs=_epochs(preset, objective, s.rows, effective_batch(objective)),
        batch_size=batch,
        gradient_accumulation_steps=accumulation,
        max_seq_length=s.max_length + completion_budget(objective),
        packing=objective == "pretrain",
        group_by_length=objective == "sft" and preset.key != "best",
    )
    params: dict = {"objective": objective, "training": training.model_dump(mode="json")}
    entry = catalogue.get(method)
    if "lora" in entry.params:
        params["lora"] = LoraParams(r=preset.rank, alpha=2 * preset.rank).model_dump(mode="json")
    if "method_params" in entry.params:
        params["method_params"] = entry.params["method_params"]().model_dump(mode="json")
    if objective in OBJECTIVE_DEFAULTS:
        model = OBJECTIVE_PARAMS[objective]
        params[objective] = model(**OBJECTIVE_DEFAULTS[objective]).model_dump(mode="json")
    return Recipe(preset, objective, method, params, [reason])


@dataclass
class Plan:
    """What a run will do, in numbers the review page puts into words."""

    params: dict
    method: str
    rows: int
    train_rows: int
    eval_rows: int
    steps: int
    eval_every: int
    trainable: int | None
    parameters: int | None
    fit: sizing.Fit | None
    seconds: float | None

    @property
    def trainable_share(self) -> float | None:
        if not self.trainable or not self.parameters:
            return None
        return 100 * self.trainable / self.parameters


def plan(
    method: str,
    params: dict,
    *,
    facts: sizing.ModelFacts,
    rows: int,
    mean_tokens: float,
    profile: ComputeProfile | None,
) -> Plan:
    from trainers import estimate, estimate_sampling

    t, rank = params["training"], params.get("lora", {}).get("r", 8)
    eval_rows = held_out(rows, t["eval_fraction"])
    train_rows = max(rows - eval_rows, 1)
    steps = estimate.optimizer_steps(
        train_rows, t["batch_size"], t["gradient_accumulation_steps"], t["epochs"]
    )
    exact = method == "full" or method in LORA_FAMILY
    trainable = sizing.trainable_count(facts, method, rank) if exact else None
    objective = params.get("objective", "sft")
    s = Sizing(facts, rows, t["max_seq_length"], profile)
    fit = s.fit(
        method, rank, t["batch_size"], objective, group=(params.get("grpo") or {}).get("num_generations")
    )
    seconds = None
    if fit and fit.device and facts.parameters:
        tokens = min(mean_tokens, t["max_seq_length"])
        grpo = objective == "grpo"  # trains on its sampled groups, and has no eval loss to compute
        seconds = estimate.training_time(
            total_params=facts.parameters,
            trainable=trainable or 0,
            tokens_per_epoch=int(
                train_rows * (estimate_sampling.grpo_tokens_per_prompt(params, tokens) if grpo else tokens)
            ),
            epochs=t["epochs"],
            steps=steps,
            eval_tokens=0 if grpo else int(eval_rows * tokens),
            evals=t["evals_per_run"],
            device=fit.device,
        ).seconds
        seconds += estimate_sampling.sampling_seconds(
            objective, params, total_params=facts.parameters, train_rows=train_rows, eval_rows=eval_rows,
            steps=steps, row_tokens=tokens, device=fit.device,
        )  # fmt: skip
    every = max(1, math.ceil(steps / t["evals_per_run"]))
    return Plan(
        params, method, rows, train_rows, eval_rows, steps, every, trainable, facts.parameters, fit, seconds
    )
