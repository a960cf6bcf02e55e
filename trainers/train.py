"""Training, for every objective alike: check, data, model, method, Trainer, train, save.

``run_training`` reads top to bottom; each objective (trainers/objectives/registry.py) gives the
steps that differ (its ``Recipe``: how rows become the model's data, which Trainer, what is saved,
which metrics), and everything else here is shared. The transformers ``Trainer`` does the loop,
mixed precision and checkpoint/resume; our code is the data glue, the events and the artifact.
"""

from __future__ import annotations

import logging
import math
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.utils import logging as hf_logging

from trainers import distributed, methods
from trainers.callbacks import EventsCallback, RunInfo, checkpoint_on_sigterm
from trainers.data import DataError, file_sha256, load_rows
from trainers.events import EventEmitter
from trainers.examples import ensure_chat_template
from trainers.forgetting import RetentionCheck
from trainers.objectives import registry as objectives
from trainers.objectives.base import Built, Recipe
from trainers.spec import ModelRef, SpecError, TrainSpec
from trainers.throughput import TokenRate
from trainers.training_record import read_training_record, write_training_record

log = logging.getLogger("trainers")

MAX_EVAL_ROWS = 1000  # held out from a big dataset; more only makes each eval slower
MAX_LOG_POINTS = 200  # per metric and run, so long runs don't flood the platform
EVA_BATCHES = 8  # training batches a method that looks at the data first (EVA) may see


class ModelError(SpecError):
    """The base model named in the spec cannot be loaded; retrying will not help."""


def run_training(spec: TrainSpec, emitter: EventEmitter) -> None:
    hf_logging.disable_progress_bar()  # tqdm bars are noise in pod logs; progress goes out as events
    objective = objectives.get(spec.objective)
    recipe = objective.load_recipe()
    check_inputs(spec)  # files, checksums, checkpoint and adapter directories
    if recipe.check is not None:
        recipe.check(spec)  # what this objective refuses before any model loads
    if spec.training.packing and not objective.packs:
        log.warning(f"training.packing applies to sft; {spec.objective} trains on padded batches")

    # Data and model: the objective turns rows into what its model trains on.
    built = recipe.build(spec, *load_datasets(spec))
    steps = plan_steps(spec, len(built.train_set), prebatched=built.prebatched)

    # Method and trainer. Seeded first: a new adapter starts from the same weights in every process
    # of a run (and in a run of one), whatever the libraries drew from the generator before.
    set_seed(spec.training.seed)
    prepared = prepare_method(built.model, spec, objective.task_type, steps.total, built.first_batches)
    # The forgetting report's "before": general-text perplexity of the model as training starts.
    retention = RetentionCheck.start(
        prepared.model, built.tokenizer, objective.task_type, spec.retention_task, Path(spec.output_dir)
    )
    callback = make_callback(spec, emitter, recipe, built, prepared)
    if spec.distributed.world_size > 1:  # each rank's tokens/s on the job page (trainers/throughput.py)
        callback.token_rate = TokenRate(prepared.model)
    args = training_arguments(spec, Path(spec.output_dir).resolve(), steps, prebatched=built.prebatched)
    trainer = prepared.install(recipe.trainer(spec, built, prepared, args, callback))

    # Train, save (rank 0 writes what a single process would: the same files, once)
    train_until_done(trainer, callback, spec)
    if retention is not None:
        retention.finish(prepared.model, built.tokenizer, emitter, trainer.state.global_step)
    if distributed.rank() == 0:
        recipe.save(spec, built, prepared, callback)
    emitter.finished("succeeded")


def check_inputs(spec: TrainSpec) -> None:
    """Refuse what cannot work before spending time loading anything."""
    if spec.resume_from and not Path(spec.resume_from).is_dir():
        raise SpecError(f"resume_from: checkpoint directory {spec.resume_from} does not exist")
    if spec.resume_from and (problem := distributed.resume_problem(spec.resume_from, spec.distributed)):
        raise SpecError(problem)
    if problem := distributed.check_runs_here(spec.distributed, on_gpu=torch.cuda.is_available()):
        raise SpecError(problem)
    if spec.init_adapter and not (Path(spec.init_adapter) / "adapter_config.json").is_file():
        raise SpecError(
            f"init_adapter: {spec.init_adapter} is not an adapter directory (no adapter_config.json)"
        )
    path = Path(spec.dataset.path)
    if not path.is_file():
        raise DataError("the dataset file does not exist", file=path.name)  # no server path in job errors
    digest = file_sha256(path)
    if digest != spec.dataset.sha256:
        raise DataError(
            f"the file has changed since it was uploaded (sha256 {digest}, expected {spec.dataset.sha256}); "
            "upload it again",
            file=path.name,
        )


def load_datasets(spec: TrainSpec) -> tuple[list[dict], list[dict]]:
    """Rows for training and for evaluation: the eval file if given, else a seeded held-out share."""
    ds = spec.dataset
    rows = load_rows(Path(ds.path), ds.format, ds.task)
    if ds.eval_path:
        eval_rows = load_rows(Path(ds.eval_path), ds.format, ds.task)
        if not eval_rows:
            raise DataError("the evaluation file has no rows", file=Path(ds.eval_path).name)
        return rows, eval_rows[:MAX_EVAL_ROWS]
    if len(rows) < 2:
        raise DataError(f"{len(rows)} rows; training needs at least 2", file=Path(ds.path).name)
    shuffled = rows[:]
    random.Random(spec.training.seed).shuffle(shuffled)
    n_eval = min(max(1, round(len(rows) * spec.training.eval_fraction)), MAX_EVAL_ROWS, len(rows) - 1)
    log.info(f"Holding out {n_eval} of {len(rows)} rows for evaluation")
    return shuffled[n_eval:], shuffled[:n_eval]


def training_device() -> tuple[str, torch.dtype]:
    """Where to train and the weight dtype: bf16 only where the GPU does it natively."""
    if torch.cuda.is_available():
        name = f"cuda ({torch.cuda.get_device_name(0)})"
        return name, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return "cpu", torch.float32


def load_base_model(ref: ModelRef, options: dict | None = None) -> tuple[Any, Any, str]:
    """``options``: extra ``from_pretrained`` arguments a method needs (QLoRA's 4-bit quantization)."""
    device, dtype = training_device()
    source = ref.path or ref.hub_id
    if ref.path and not (Path(ref.path) / "config.json").is_file():
        raise ModelError(
            f"base_model.path: {ref.path} is not a model directory in Hugging Face format (no config.json)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=ref.revision)
        model = AutoModelForCausalLM.from_pretrained(
            source, revision=ref.revision, dtype=dtype, **(options or {})
        )
    except (OSError, ValueError, KeyError) as exc:
        if ref.path or _is_permanent_hub_error(exc):
            raise ModelError(f"base model {ref.name} ({source}) could not be loaded: {exc}") from exc
        raise  # e.g. the hub is unreachable: worth a retry
    ensure_chat_template(tokenizer)
    log.info(f"Loaded {ref.name} ({source}) on {device} in {str(dtype).removeprefix('torch.')}")
    return tokenizer, model, device


def _is_permanent_hub_error(exc: BaseException) -> bool:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    permanent = (GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError)
    return isinstance(exc, ValueError | KeyError) or isinstance(exc.__cause__, permanent)


def prepare_method(
    model: Any, spec: TrainSpec, task_type: str, total_steps: int,
    batches: Callable[[], list] | None = None,
) -> methods.Prepared:
    """The spec's method (trainers/methods/) on the base model; ``task_type`` is peft's (CAUSAL_LM or
    SEQ_CLS: peft then also trains and saves the classification head, ``classifier`` / ``score``).
    With ``init_adapter`` a finished job's adapter is trained further instead (its method and rank
    come with it). ``batches``: a few collated training batches, for methods that look at the data
    first (EVA)."""
    if spec.init_adapter:
        return methods.Prepared(load_trainable_adapter(model, spec.init_adapter))
    ctx = methods.Context(
        task_type=task_type,
        total_steps=total_steps,  # for schedules inside a method (AdaLoRA's rank budget)
        model_source=spec.base_model.path or spec.base_model.hub_id,
        work_dir=Path(spec.output_dir).resolve(),
        batches=batches,
    )
    return methods.apply_method(model, spec, ctx)


def first_batches(
    examples: list[dict], collator: Callable, size: int, n: int = EVA_BATCHES
) -> Callable[[], list]:
    """The first ``n`` collated training batches, made only if a method asks (EVA initialises from them)."""
    first = examples[: n * size]
    return lambda: [collator(first[i : i + size]) for i in range(0, len(first), size)]


def make_callback(
    spec: TrainSpec, emitter: EventEmitter, recipe: Recipe, built: Built, prepared: methods.Prepared
) -> EventsCallback:
    """What reports the run as events: the objective's own callback, or the standard one with its metrics."""
    t = spec.training
    trainable, total = methods.parameter_counts(prepared.model)
    per_batch = built.examples_per_batch if built.examples_per_batch is not None else t.batch_size
    samples_per_step = round(per_batch * t.gradient_accumulation_steps)
    info = RunInfo(spec.base_model.name, built.device, trainable, total, samples_per_step)
    if recipe.callback is not None:
        return recipe.callback(emitter, built, info)
    return EventsCallback(
        emitter, built.tokenizer, info, built.sample, metrics=recipe.metrics, perplexity=recipe.perplexity
    )


def hf_trainer(
    spec: TrainSpec, built: Built, prepared: methods.Prepared, args: TrainingArguments,
    callback: EventsCallback, **extra: Any,
) -> Trainer:
    """The transformers Trainer on the objective's data (``extra``: e.g. its ``compute_metrics``)."""
    return Trainer(
        model=prepared.model,
        args=args,
        data_collator=built.collator,
        train_dataset=built.train_set,
        eval_dataset=built.eval_set,
        processing_class=built.tokenizer,
        callbacks=[callback, *early_stopping(spec), *prepared.callbacks],
        **extra,
    )


def train_until_done(trainer: Any, callback: EventsCallback, spec: TrainSpec) -> None:
    """Train (resuming if the spec says so); on SIGTERM, checkpoint and end the process with 143."""
    with checkpoint_on_sigterm(callback):
        trainer.train(resume_from_checkpoint=spec.resume_from)
    if callback.stop_requested:
        # The checkpoint is on disk: let SIGTERM end the process as it would have (cli: exit 143).
        signal.raise_signal(signal.SIGTERM)
        raise SystemExit(143)  # only reached where SIGTERM's handler returns


def save_lm(spec: TrainSpec, built: Built, prepared: methods.Prepared, callback: EventsCallback) -> None:
    """The trained adapter (or model, for methods that train the model itself) with its card; one
    artifact event."""
    kind = methods.get(spec.method).artifact  # "adapter" (peft) or "model" (full, freeze, BitFit, LISA)
    output_dir = Path(spec.output_dir).resolve()
    artifact_dir = save_adapter(prepared.model, built.tokenizer, output_dir / kind, **prepared.save_kwargs)
    # Which chat template the rows were rendered with, for evaluation, the playground and serving.
    write_training_record(artifact_dir, built.tokenizer, job_id=spec.job_id, objective=spec.objective)
    write_model_card(artifact_dir, spec, *built.rows, callback)
    emit_artifact(callback.emitter, artifact_dir, kind)


def load_trainable_adapter(model: Any, adapter_dir: str) -> PeftModel:
    """A finished job's adapter on its base model, trainable again: "continue training"."""
    try:
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RuntimeError: weights of another shape
        raise SpecError(f"init_adapter: {adapter_dir} does not load on this base model: {exc}") from exc


def early_stopping(spec: TrainSpec) -> list[EarlyStoppingCallback]:
    patience = spec.training.early_stopping_patience
    return [EarlyStoppingCallback(early_stopping_patience=patience)] if patience else []


@dataclass(frozen=True)
class StepPlan:
    total: int
    eval_every: int
    save_every: int
    log_every: int


def plan_steps(spec: TrainSpec, n_train: int, *, prebatched: bool = False) -> StepPlan:
    """Optimizer steps in the run, and how often to evaluate, checkpoint and log (as the Trainer counts).

    ``n_train`` counts examples, or batches when they were made beforehand (trainers/packing.py)."""
    t = spec.training
    batches = n_train if prebatched else math.ceil(n_train / t.batch_size)
    per_epoch = max(math.ceil(batches / t.gradient_accumulation_steps), 1)
    total = max(math.ceil(t.epochs * per_epoch), 1)
    eval_every = max(1, math.ceil(total / t.evals_per_run))
    if t.early_stopping_patience:
        save_every = eval_every  # keeping the best model needs a checkpoint at every evaluation
    elif t.save_every_steps:
        save_every = t.save_every_steps
    else:
        save_every = max(1, math.ceil(total / t.checkpoints_per_run)) if t.checkpoints_per_run else 0
    return StepPlan(
        total=total,
        eval_every=eval_every,
        save_every=save_every,
        log_every=max(1, math.ceil(total / MAX_LOG_POINTS)),
    )


def training_arguments(
    spec: TrainSpec, output_dir: Path, steps: StepPlan, *, prebatched: bool = False
) -> TrainingArguments:
    t = spec.training
    on_gpu = torch.cuda.is_available()
    per_device = 1 if prebatched else t.batch_size  # a pre-made batch is one dataset item
    return TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=per_device,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.epochs,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,  # a float below 1 is a share of the total steps
        eval_strategy="steps",
        eval_steps=steps.eval_every,
        eval_on_start=spec.resume_from is None,  # the base model's loss, as a baseline to compare
        save_strategy="steps" if steps.save_every else "no",
        save_steps=steps.save_every or 500,
        save_total_limit=t.keep_checkpoints,
        # Early stopping keeps the best checkpoint (by eval loss) and ends with it loaded.
        load_best_model_at_end=bool(t.early_stopping_patience),
        metric_for_best_model="eval_loss" if t.early_stopping_patience else None,
        greater_is_better=False if t.early_stopping_patience else None,
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        logging_strategy="steps",
        logging_steps=steps.log_every,
        report_to="none",
        disable_tqdm=True,
        log_level="warning",
        seed=t.seed,
        data_seed=t.seed,
        dataloader_num_workers=0,
        remove_unused_columns=False,  # our examples are plain dicts already shaped for the model
        use_cpu=not on_gpu,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        # Several processes (trainers/torchrun.py): DDP over gloo (CPU) or NCCL, or FSDP.
        **distributed.trainer_arguments(spec.distributed, on_gpu=on_gpu),
    )


def save_adapter(model: PeftModel, tokenizer: Any, adapter_dir: Path, **save_kwargs: Any) -> Path:
    """adapter_model.safetensors + adapter_config.json (or a whole model's weights and config, for
    methods that train the model itself), and the tokenizer (with the chat template used)."""
    model.save_pretrained(adapter_dir, safe_serialization=True, **save_kwargs)
    tokenizer.save_pretrained(adapter_dir)
    for path in adapter_dir.iterdir():
        if path.is_file():
            path.chmod(0o644)  # safetensors writes 0600; the web and worker pods may run as other users
    return adapter_dir


def write_model_card(
    adapter_dir: Path, spec: TrainSpec, n_train: int, n_eval: int, cb: EventsCallback
) -> None:
    base, ds = spec.base_model, spec.dataset
    source = f"path `{base.path}`" if base.path else f"hub id `{base.hub_id}`"
    if base.revision:
        source += f" (revision `{base.revision}`)"
    method = methods.get(spec.method)
    params = {**methods.card_params(spec), **spec.training.model_dump()}
    lines = [
        f"# {method.title} {method.artifact} for {base.name}",
        "",
        "Trained with Hone.",
        "",
        f"- Base model: {base.name}, {source}",
        f"- Dataset: `{Path(ds.path).name}` ({ds.format}, {ds.task}), sha256 `{ds.sha256}`",
        f"- Rows: {n_train} for training, {n_eval} for evaluation",
        f"- Objective: {spec.objective}",
        f"- Method: {method.name} ({method.title}, {method.paper})",
        *([f"- Continued from the adapter `{spec.init_adapter}`"] if spec.init_adapter else []),
        f"- Final train loss: {_fmt_loss(cb.last_train_loss)}",
        f"- Final eval loss: {_fmt_loss(cb.last_eval_loss)}",
        f"- Chat template: {_template_line(adapter_dir)}",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Job {spec.job_id}, attempt {spec.attempt}",
        "",
        "## Parameters",
        "",
        *(f"- {name}: {value}" for name, value in params.items()),
        "",
        "Load with `peft.PeftModel.from_pretrained(base_model, this_directory)`."
        if method.artifact == "adapter"
        else "Load with `transformers.AutoModelForCausalLM.from_pretrained(this_directory)`.",
        "",
    ]
    (adapter_dir / "README.md").write_text("\n".join(lines), encoding="utf-8")


def _template_line(model_dir: Path) -> str:
    template = (read_training_record(model_dir) or {}).get("chat_template")
    return f"{template['source']}, sha256 `{template['sha256'][:12]}`" if template else "none recorded"


def _fmt_loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def emit_artifact(emitter: EventEmitter, adapter_dir: Path, kind: str = "adapter") -> None:
    """``kind``: "adapter" (adapter_model.safetensors) or "model" (model.safetensors, or its shard index)."""
    size = sum(f.stat().st_size for f in adapter_dir.rglob("*") if f.is_file())
    weights = adapter_dir / ("adapter_model.safetensors" if kind == "adapter" else "model.safetensors")
    if not weights.is_file():  # a model big enough to be saved in shards
        weights = adapter_dir / "model.safetensors.index.json"
    emitter.artifact(
        name=kind,
        artifact_kind=kind,
        location=str(adapter_dir.resolve()),
        bytes=size,
        sha256=file_sha256(weights),
    )
