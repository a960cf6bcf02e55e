"""The shape of a training attempt on its compute profile: nodes × processes, the strategy the
model needs to fit (``trainers.distributed.choose_strategy``), and the memory per GPU under it.

The launch rules refuse a job that fits under no strategy (naming what to change); the spec
builder puts the chosen shape in each attempt's spec (``distributed``); the pages show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.guided import sizing
from jobs.models import ComputeProfile, ModelAsset
from trainers import distributed, estimate
from trainers.spec import LoraParams, TrainingParams


@dataclass(frozen=True)
class Shape:
    nodes: int
    per_node: int
    strategy: str
    gpus: bool
    need_bytes: int | None  # per process, under the strategy; None: the model's shape is unknown
    available_bytes: int | None  # per process
    fits: bool | None
    asked: str = "auto"  # params.distributed.strategy
    fits_instead: str = ""  # what auto would choose, where the asked strategy does not fit and it does

    @property
    def spec(self) -> dict:
        return {
            "nodes": self.nodes,
            "processes_per_node": self.per_node,
            "strategy": self.strategy,
            "asked": self.asked,
            "sized": self.need_bytes is not None,
        }

    @property
    def text(self) -> str:
        return distributed.describe(distributed.DistributedParams(**self.spec), gpus=self.gpus)

    @property
    def memory_text(self) -> str:
        if self.need_bytes is None:
            return ""
        unit = "GPU" if self.gpus else "process"
        return f"about {estimate.human_bytes(self.need_bytes)} per {unit}"


def asked(params: dict) -> str:
    """The strategy ``params.distributed.strategy`` asks for (auto where unset or not a choice)."""
    try:
        return distributed.StrategyChoice(**(params.get("distributed") or {})).strategy
    except (TypeError, ValueError):  # reported at its field by the launch rules
        return "auto"


def choice_problem(params: dict, profile: ComputeProfile | None) -> str:
    """Why the strategy the job's params ask for cannot run on ``profile``, or ''."""
    nodes, per_node = (profile.nodes, profile.per_node) if profile else (1, 1)
    name = profile.name if profile else "default"
    gpus = bool(profile and profile.gpu_count)
    return distributed.choice_problem(asked(params), nodes=nodes, per_node=per_node, gpus=gpus, profile=name)


def _fit(facts, profile: ComputeProfile | None, method: str, params: dict):
    """One copy's memory (``sizing.training_fit``) under the job's LoRA and training settings."""
    lora = LoraParams(**(params.get("lora") or {})) if isinstance(params.get("lora"), dict) else LoraParams()
    try:
        training = TrainingParams(**(params.get("training") or {}))
    except (TypeError, ValueError):  # reported at its field by the launch rules
        training = TrainingParams()
    return sizing.training_fit(
        facts,
        profile,
        rank=lora.r,
        seq_len=training.max_seq_length,
        batch_size=training.batch_size,
        method=method,
    )


def plan(model: ModelAsset | None, profile: ComputeProfile | None, method: str, params: dict) -> Shape:
    """Where ``model`` trained with ``method`` and ``params`` (the job's groups) stands on ``profile``."""
    nodes, per_node = (profile.nodes, profile.per_node) if profile else (1, 1)
    wanted = asked(params) if not choice_problem(params, profile) else "auto"
    gpus = bool(profile and profile.gpu_count)
    facts = sizing.model_facts(model) if model is not None else None
    fit = _fit(facts, profile, method, params) if facts is not None else None
    if fit is None or fit.device is None:
        return Shape(nodes, per_node, "ddp" if wanted == "auto" else wanted, gpus, None, None, None, wanted)
    available = fit.device.memory_bytes
    if available is not None and not gpus:
        available //= per_node  # CPU processes share the node's memory limit

    def choose(strategy: str) -> tuple[str, distributed.Sharded, bool | None]:
        return distributed.choose_strategy(
            fit.memory,
            available,
            nodes=nodes,
            per_node=per_node,
            layers=facts.shape.layers,
            fits_share=estimate.FITS_SHARE,
            gpus=gpus,
            wanted=strategy,
        )

    strategy, need, fits = choose(wanted)
    instead = ""
    if fits is False and wanted != "auto":
        auto, _need, auto_fits = choose("auto")
        instead = auto if auto_fits else ""
    return Shape(nodes, per_node, strategy, gpus, need.total, available, fits, wanted, instead)


def problem(shape: Shape, profile: ComputeProfile | None, *, executor: str) -> str:
    """Why this shape cannot run, in the user's words, or ''."""
    if profile is not None and profile.nodes > 1 and executor != ComputeProfile.Executor.KUBERNETES:
        return (
            f"compute profile {profile.name} spans {profile.nodes} nodes, which only the kubernetes executor "
            "runs; choose a one-node profile"
        )
    if shape.fits is False and profile is not None:
        why = distributed.refusal(
            shape.need_bytes or 0,
            shape.available_bytes or 0,
            strategy=shape.strategy,
            shape_text=profile.shape_text,
            profile=profile.name,
        )
        if shape.fits_instead:
            why += (
                f"; or set params.distributed.strategy to {shape.fits_instead} (or auto), "
                "under which it fits"
            )
        return why
    return ""
