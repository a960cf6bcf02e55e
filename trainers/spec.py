"""The job spec: the versioned JSON document the platform hands to a trainer.

The Django side imports these models to build and validate specs before anything
is queued; the trainer validates again on start. Nothing here imports Django.
Secrets never appear in a spec: the events token reaches the trainer through the
``HONE_EVENTS_TOKEN`` environment variable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trainers.distributed import DistributedParams
from trainers.objectives import registry as objectives
from trainers.objectives.base import ObjectiveParams
from trainers.objectives.grpo_params import GrpoParams
from trainers.objectives.preference_params import DpoParams, KtoParams, OrpoParams, SimpoParams
from trainers.objectives.refusal_params import RefusalParams
from trainers.objectives.rejection_params import RejectionParams
from trainers.rewards.registry import RewardChoice, reward_model_ids

SPEC_VERSION = 1
EVENTS_TOKEN_ENV = "HONE_EVENTS_TOKEN"

DataFormat = Literal["jsonl", "json", "csv", "parquet"]
DataTask = Literal["text", "instruction", "chat", "preference", "classification", "multiple_choice"]


class SpecError(ValueError):
    """A spec that must not run: names every offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    """A base model: a local directory in Hugging Face format, or a hub id."""

    name: str = Field(min_length=1, max_length=200)
    path: str | None = None
    hub_id: str | None = None
    revision: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelRef:
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("give exactly one of 'path' or 'hub_id'")
        return self


class DatasetRef(_Strict):
    path: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    format: DataFormat
    task: DataTask
    eval_path: str | None = None


class LoraParams(_Strict):
    r: int = Field(8, ge=1, le=256, description="Rank of the low-rank update.")
    alpha: int = Field(16, ge=1, le=1024, description="Scaling numerator; scale = alpha / r.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer."
    )
    use_rslora: bool = Field(
        False,
        description="rsLoRA: scale by alpha / sqrt(r), which keeps high ranks learning (Kalajdzievski 2023).",
    )
    use_dora: bool = Field(
        False,
        description="DoRA: learn each weight's magnitude and direction apart (Liu et al. 2024); slower.",
    )
    init: Literal["default", "gaussian", "pissa", "olora", "eva"] = Field(
        "default",
        description="How the adapter starts: default (B = 0), gaussian, PiSSA or OLoRA (from the weights' "
        "principal directions) or EVA (from the data's activations).",
    )


class TrainingParams(_Strict):
    learning_rate: float = Field(
        2e-4, gt=0.0, le=1.0, description="How big each update is; LoRA usually works well from 1e-4 to 3e-4."
    )
    epochs: float = Field(3.0, gt=0.0, le=100.0, description="Passes over the training data.")
    batch_size: int = Field(8, ge=1, le=1024, description="Examples per step; lower it if memory runs out.")
    gradient_accumulation_steps: int = Field(
        1,
        ge=1,
        le=1024,
        description="Steps whose gradients add up before one update (a larger effective batch).",
    )
    max_seq_length: int = Field(
        512, ge=16, le=32768, description="Longest example in tokens; longer ones are cut at the end."
    )
    warmup_ratio: float = Field(
        0.03, ge=0.0, lt=1.0, description="Share of steps to ramp the learning rate up."
    )
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Pull towards small weights.")
    eval_fraction: float = Field(
        0.1, gt=0.0, le=0.5, description="Held-out share when the dataset has no eval split."
    )
    evals_per_run: int = Field(5, ge=1, le=1000, description="How many times to evaluate over the run.")
    checkpoints_per_run: int = Field(
        2, ge=0, le=1000, description="Checkpoints saved over the run; a resumed job restarts from the last."
    )
    seed: int = Field(
        42, ge=0, le=2**32 - 1, description="Makes the data split and initialisation repeatable."
    )
    # Efficiency (trainers/packing.py): how examples become batches, and memory for speed.
    packing: bool = Field(
        False,
        description="Put several short examples in one row without padding; each attends only to itself. "
        "Pays off with flash-attention on GPU; on CPU, max_batch_tokens with group_by_length is faster.",
    )
    max_batch_tokens: int | None = Field(
        None,
        ge=16,
        le=1_048_576,
        description="Batch by tokens, not examples: up to this many per batch, padding included; "
        "replaces batch_size.",
    )
    group_by_length: bool = Field(
        False, description="Batch examples of similar length together, so less compute goes to padding."
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: far less memory, about 30% slower."
    )
    # Checkpoints (a retried attempt resumes from the newest) and early stopping.
    save_every_steps: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Checkpoint every N optimizer steps (replaces checkpoints_per_run).",
    )
    keep_checkpoints: int = Field(
        2, ge=1, le=100, description="How many of the newest checkpoints stay on disk."
    )
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Stop once the eval loss has not improved for this many evaluations; keeps the best.",
    )

    @model_validator(mode="after")
    def _budget_holds_an_example(self) -> TrainingParams:
        if self.max_batch_tokens is not None and self.max_batch_tokens < self.max_seq_length:
            raise ValueError(
                f"max_batch_tokens ({self.max_batch_tokens}) must be at least max_seq_length "
                f"({self.max_seq_length}), or the longest examples fit in no batch"
            )
        return self


class EventsSink(_Strict):
    """Where events go besides stdout. ``url`` is the attempt's ingest endpoint."""

    url: str | None = Field(None, pattern=r"^https?://")


class RetentionTaskSpec(_Strict):
    """The forgetting report's multiple-choice task (trainers/forgetting_task.py), chosen by the team."""

    dataset: DatasetRef | None = Field(
        None, description="The team's multiple-choice dataset; none: Hone's built-in questions."
    )


class TrainSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["train"] = "train"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    base_model: ModelRef
    dataset: DatasetRef
    objective: objectives.ObjectiveName = Field(
        "sft",
        description="What to learn: sft, pretrain, classification, dpo / orpo / simpo / kto, grpo, "
        "rejection_sampling or refusal_aware.",
    )
    method: str = Field("lora", description="A training method from trainers.methods (GET /api/v1/methods).")
    lora: LoraParams = LoraParams()  # read by the LoRA family (lora, loraplus, qlora)
    method_params: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,
        description="The method's own parameters, checked against its schema (defaults filled in).",
    )
    training: TrainingParams = TrainingParams()
    # The objective's own parameters: only the group named after the spec's objective may be set.
    dpo: DpoParams | None = None
    orpo: OrpoParams | None = None
    simpo: SimpoParams | None = None
    kto: KtoParams | None = None
    grpo: GrpoParams | None = None
    rejection_sampling: RejectionParams | None = None
    refusal_aware: RefusalParams | None = None
    output_dir: str = Field(min_length=1)
    resume_from: str | None = None
    init_adapter: str | None = Field(
        None, description="A trained adapter directory to continue training from instead of a new adapter."
    )
    retention_task: RetentionTaskSpec | None = Field(
        None, description="A multiple-choice task measured before and after training, beside retention "
        "perplexity; the platform fills it from the team's choice."
    )
    events: EventsSink = EventsSink()
    # Nodes × processes per node and how they share the model (trainers/distributed.py); the
    # platform fills it from the compute profile and the strategy it chose.
    distributed: DistributedParams = DistributedParams()
    reward_models: dict[str, str] = Field(
        default_factory=dict,
        description="The directories of the classifiers the rewards name, by model id; the platform "
        "fills them in from the job's reward_model inputs.",
    )

    @field_validator("method")
    @classmethod
    def _method_is_known(cls, name: str) -> str:
        from trainers import methods

        return methods.get(name).name

    @field_validator("method_params")
    @classmethod
    def _params_fit_the_method(cls, raw: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from trainers import methods

        return methods.validated_params(info.data.get("method"), raw)

    @model_validator(mode="after")
    def _objective_fits_the_data(self) -> TrainSpec:
        given = {name for name in objectives.OBJECTIVE_PARAMS if getattr(self, name) is not None}
        problem = objectives.objective_problem(self.objective, self.dataset.task, given)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _reward_models_are_given(self) -> TrainSpec:
        chosen: list[RewardChoice] = getattr(self.objective_params(), "rewards", None) or []
        missing = [i for i in reward_model_ids(chosen) if str(i) not in self.reward_models]
        if missing:
            raise ValueError(f"reward_models: no directory for model {missing[0]}, which a reward names")
        return self

    def objective_params(self) -> ObjectiveParams | None:
        """The objective's parameter group as given, or its defaults; None for objectives without one."""
        model = objectives.get(self.objective).params
        return None if model is None else getattr(self, self.objective) or model()

    @model_validator(mode="after")
    def _method_fits_the_objective(self) -> TrainSpec:
        from trainers import methods

        methods.check_combination(self)
        return self


# Every kind of job the trainer runs: its spec model and the function that runs it
# ("module:function", imported only when a job of that kind runs). One entry per kind.
JOB_KINDS: dict[str, tuple[str, str]] = {
    "train": ("trainers.spec:TrainSpec", "trainers.train:run_training"),
    "merge": ("trainers.spec_merge:MergeSpec", "trainers.merge.run:run_merge"),
    "quantize": ("trainers.spec_quantize:QuantizeSpec", "trainers.quantize.run:run_quantize"),
    "evaluate": ("trainers.spec_evaluate:EvaluateSpec", "trainers.evaluation.run:run_evaluate"),
    "curate": ("trainers.spec_curate:CurateSpec", "trainers.curate.run:run_curate"),
    "sweep": ("trainers.spec_sweep:SweepSpec", "trainers.spec_sweep:refuse_to_run"),
}

JobSpec = BaseModel  # any of the spec models in JOB_KINDS


def _load(ref: str):
    import importlib

    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def spec_model(kind: str) -> type[BaseModel]:
    if kind not in JOB_KINDS:
        raise SpecError(f"kind: unknown job kind {kind!r}; known kinds: {', '.join(sorted(JOB_KINDS))}")
    return _load(JOB_KINDS[kind][0])


def runner(kind: str):
    """The function that runs a job of this kind: ``run(spec, emitter) -> None``."""
    return _load(JOB_KINDS[kind][1])


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, each naming the dotted field path."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        # A whole-spec check names its own field first ("outputs: …"); don't bury it under "spec".
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


def parse_spec(data: dict) -> JobSpec:
    kind = data.get("kind", "train")
    try:
        return spec_model(str(kind)).model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"invalid job spec: {describe_errors(exc)}") from exc


def load_spec(path: str | Path) -> JobSpec:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"spec file not found: {path}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"spec file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"spec file {path} must hold a JSON object")
    return parse_spec(data)
