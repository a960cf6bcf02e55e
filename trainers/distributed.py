"""The shape of a training run past one process: nodes × processes per node, and the strategy.

A compute profile gives the shape (``nodes``, ``processes_per_node``: one per GPU, or CPU
processes under gloo); the platform chooses the strategy from the model's size and the memory of
one GPU (``choose_strategy``), and the spec carries both (``DistributedParams``). The trainer runs
each process under ``torchrun``, and the transformers ``Trainer`` (through Accelerate) does the
rest: DDP, or FSDP with full or hybrid sharding. Nothing here imports torch.

Memory per GPU under each strategy (``per_gpu_memory``), as the estimate counts it
(``trainers.estimate.training_memory`` for one copy):

- DDP: every process holds the whole model, its gradients and optimizer state; each gets
  ``batch_size`` examples, so activations are one process's.
- FSDP full shard (ZeRO-3's layout): weights, gradients and optimizer state are split over every
  process of the run; one block's weights are gathered at a time (forward and backward).
- FSDP hybrid shard: split over the processes of one node, replicated across nodes (the
  all-gathers stay on the node's fast links; only gradients cross nodes).

DeepSpeed ZeRO needs the ``deepspeed`` package, which Hone's image does not carry: a spec asking
for it is refused with that reason (FSDP full shard is the same partitioning, in PyTorch itself).
FSDP runs on GPUs only: Accelerate never switches a CPU (gloo) run to FSDP, so on CPU processes
the strategy is DDP, and a spec asking for FSDP there is refused rather than silently replicated.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Strategy = Literal["ddp", "fsdp_full_shard", "fsdp_hybrid_shard", "zero2", "zero3"]
# What a user may ask for in ``params.distributed.strategy``; auto: Hone chooses (``choose_strategy``).
Choice = Literal["auto", "ddp", "fsdp_full_shard", "fsdp_hybrid_shard", "zero2", "zero3"]
SHARDED: tuple[str, ...] = ("fsdp_full_shard", "fsdp_hybrid_shard")
ZERO: tuple[str, ...] = ("zero2", "zero3")
# Plain words for pages and the API.
STRATEGY_WORDS = {
    "ddp": "each process holds a full copy of the model and trains on its share of every batch (DDP)",
    "fsdp_full_shard": (
        "the model's weights, gradients and optimizer state are split across every GPU (FSDP full shard)"
    ),
    "fsdp_hybrid_shard": (
        "the model is split across the GPUs of each node and copied between nodes (FSDP hybrid shard)"
    ),
    "zero2": "DeepSpeed ZeRO-2: optimizer state and gradients split across GPUs",
    "zero3": "DeepSpeed ZeRO-3: weights, gradients and optimizer state split across GPUs",
}

# The choices in plain words, for forms: auto first.
STRATEGY_CHOICES = [("auto", "Auto: Hone chooses the least communication that fits the model")] + [
    (name, f"{words[0].upper()}{words[1:]}") for name, words in STRATEGY_WORDS.items()
]


class StrategyChoice(BaseModel):
    """``params.distributed`` of a training job: the strategy the user asks for. The launch path
    checks it against the compute profile (``jobs.lifecycle.shape.choice_problem``) and the estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Choice = Field(
        "auto",
        description=(
            "How the processes share the model: auto (Hone chooses the least communication that fits), "
            "ddp, fsdp_full_shard, fsdp_hybrid_shard (several nodes); zero2/zero3 need DeepSpeed."
        ),
    )


class DistributedParams(BaseModel):
    """How many processes train together and how they share the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: int = Field(1, ge=1, le=64, description="Machines (pods) that train together.")
    processes_per_node: int = Field(
        1, ge=1, le=16, description="Training processes on each node: one per GPU (CPU: gloo processes)."
    )
    strategy: Strategy = Field(
        "ddp", description="How the processes share the model: ddp, fsdp_full_shard, fsdp_hybrid_shard."
    )
    asked: Choice = Field("auto", description="What the job's params.distributed.strategy asked for.")
    sized: bool = Field(True, description="Whether the model's memory was known when it was chosen.")

    @property
    def world_size(self) -> int:
        return self.nodes * self.processes_per_node

    @model_validator(mode="after")
    def _strategy_runs_here(self) -> DistributedParams:
        if problem := strategy_problem(self.strategy, self.nodes):
            raise ValueError(f"strategy: {problem}")
        return self


def strategy_problem(strategy: str, nodes: int, *, gpus: bool = True) -> str:
    """Why this strategy cannot run on this shape in Hone's image, or ''."""
    if strategy in SHARDED and not gpus:
        # Accelerate turns FSDP on only for GPU-like devices (AcceleratorState never switches a
        # MULTI_CPU run to FSDP): on CPU the Trainer would silently train with DDP instead.
        return f"{strategy} shards the model across GPUs; on CPU processes (gloo) Hone trains with ddp"
    if strategy in ZERO:
        # The Trainer runs ZeRO only through the deepspeed package (TrainingArguments.deepspeed).
        return (
            f"{strategy} needs DeepSpeed, which Hone's trainer image does not include; use "
            "fsdp_full_shard (the same partitioning as ZeRO-3, built into PyTorch)"
        )
    if strategy == "fsdp_hybrid_shard" and nodes == 1:
        return (
            "fsdp_hybrid_shard shards within a node and replicates across nodes; "
            "on one node use fsdp_full_shard"
        )
    return ""


def describe(params: DistributedParams, *, gpus: bool) -> str:
    """The shape and strategy in plain words: "2 nodes × 4 GPUs (8 processes): the model is split …"."""
    if params.world_size == 1:
        return "one process on 1 GPU" if gpus else "one process on CPU"
    nodes = f"{params.nodes} node{'s' if params.nodes != 1 else ''}"
    shape = f"{nodes} × {count(params.processes_per_node, gpus)} ({params.world_size} processes)"
    if params.asked != "auto":
        why = "as you chose"
    elif params.sized:  # without the model's config.json auto cannot size it
        why = "chosen by Hone as the least communication that fits"
    else:
        why = "Hone's default, as the model's size is unknown (no config.json to read it from)"
    return f"{shape}: {STRATEGY_WORDS[params.strategy]}, {why}"


def count(processes: int, gpus: bool) -> str:
    if gpus:
        return f"{processes} GPU{'s' if processes != 1 else ''}"
    return f"{processes} CPU process{'es' if processes != 1 else ''}"


@dataclasses.dataclass(frozen=True)
class Sharded:
    """Memory of one process under a strategy (bytes), by what it holds."""

    weights: int
    trainable: int  # the trained weights, their gradients and AdamW's moments
    gathered: int  # one block's weights gathered whole at a time (FSDP)
    activations: int
    framework: int

    @property
    def total(self) -> int:
        return self.weights + self.trainable + self.gathered + self.activations + self.framework


def per_gpu_memory(memory, strategy: str, *, world_size: int, per_node: int, layers: int) -> Sharded:
    """``memory``: one copy's ``trainers.estimate.MemoryEstimate``; what one process holds."""
    trainable = memory.adapter + memory.gradients + memory.optimizer
    if strategy == "ddp" or world_size == 1:
        return Sharded(memory.weights, trainable, 0, memory.activations, memory.framework)
    split = per_node if strategy == "fsdp_hybrid_shard" else world_size
    gathered = memory.weights // max(layers, 1)
    return Sharded(
        memory.weights // split, trainable // split, gathered, memory.activations, memory.framework
    )


def choose_strategy(
    memory,
    available: int | None,
    *,
    nodes: int,
    per_node: int,
    layers: int,
    fits_share: float,
    gpus: bool = True,
    wanted: str = "auto",
) -> tuple[str, Sharded, bool | None]:
    """The least-communicating strategy that fits: DDP, else hybrid (several nodes), else full shard
    (on GPUs: Accelerate shards only there, see ``strategy_problem``); or the ``wanted`` one alone.

    Returns the strategy, its memory per process, and whether it fits (None: memory unknown)."""
    world = nodes * per_node
    order = ["ddp"] + (["fsdp_hybrid_shard"] if nodes > 1 else []) + ["fsdp_full_shard"]
    if world == 1 or not gpus:
        order = ["ddp"]
    if wanted != "auto":
        order = [wanted]
    for strategy in order:
        need = per_gpu_memory(memory, strategy, world_size=world, per_node=per_node, layers=layers)
        if available is None:
            return strategy, need, None
        if need.total <= available * fits_share:
            return strategy, need, True
    return order[-1], need, False


def refusal(need_bytes: int, available: int, *, strategy: str, shape_text: str, profile: str) -> str:
    """Why the run cannot fit, and what to change, in the user's terms."""
    from trainers.estimate import human_bytes

    return (
        f"needs about {human_bytes(need_bytes)} per process under {strategy} on {shape_text}, and each "
        f"process of {profile} has {human_bytes(available)}; choose a profile with more GPUs or nodes (the "
        "model is then split further), or lower training.batch_size or training.max_seq_length, or train "
        "an adapter (lora, qlora) instead of every weight"
    )


def choice_problem(wanted: str, *, nodes: int, per_node: int, gpus: bool, profile: str) -> str:
    """Why the strategy a user asked for cannot run on this compute profile, or ''."""
    if wanted in ("auto", "ddp"):
        return ""
    if nodes * per_node == 1 and wanted not in ZERO:
        return (
            f"{wanted} splits the model across processes, and compute profile {profile} runs one; "
            "choose auto or ddp, or a profile with more GPUs"
        )
    return strategy_problem(wanted, nodes, gpus=gpus)


def check_runs_here(params: DistributedParams, *, on_gpu: bool) -> str:
    """In the trainer, where the device is known: why this shape cannot run here, or ''."""
    problem = strategy_problem(params.strategy, params.nodes, gpus=on_gpu)
    return f"distributed.strategy: {problem}" if problem else ""


def rank() -> int:
    """This process's rank under torchrun (0 alone)."""
    return int(os.environ.get("RANK", "0"))


def checkpoint_world_size(checkpoint: str | Path) -> int:
    """Processes that wrote a Trainer checkpoint: one RNG state file each (``rng_state_<rank>.pth``;
    a single process writes ``rng_state.pth``)."""
    ranks = list(Path(checkpoint).glob("rng_state_*.pth"))
    return len(ranks) if ranks else 1


def resume_problem(checkpoint: str | Path, params: DistributedParams) -> str:
    """Why this checkpoint cannot resume on this shape, or ''. The Trainer restores each rank's
    data position and RNG state, and FSDP's sharded optimizer state, per process: a checkpoint
    written by another number of processes would resume on a different data order (or not load)."""
    wrote = checkpoint_world_size(checkpoint)
    if wrote == params.world_size:
        return ""
    return (
        f"resume_from: the checkpoint was written by {wrote} process{'es' if wrote != 1 else ''} and this "
        f"attempt runs {params.world_size}; a checkpoint resumes only on the shape that wrote it (its data "
        "position, random state and sharded optimizer state are per process). Run the job on its first "
        "compute profile again, or start it over"
    )


def trainer_arguments(params: DistributedParams, *, on_gpu: bool) -> dict[str, Any]:
    """What ``transformers.TrainingArguments`` takes for this strategy (empty for one process).

    FSDP is PyTorch's FSDP2 (``fully_shard``) through Accelerate: each decoder block (the model's
    ``_no_split_modules``) is one shard unit, resharded after its forward pass. Hybrid sharding
    is a 2-D mesh: replicas across nodes, shards within one (Accelerate's ParallelismConfig).
    """
    if params.world_size == 1:
        return {}
    found: dict[str, Any] = {"ddp_backend": "nccl" if on_gpu else "gloo"}
    if params.strategy not in SHARDED:
        return found | {"ddp_find_unused_parameters": False}
    found["fsdp"] = True
    # The adapter (or model) is gathered whole on rank 0 when saved: the same files as one process.
    found["fsdp_config"] = {"version": 2, "reshard_after_forward": True, "state_dict_type": "FULL_STATE_DICT"}
    if params.strategy == "fsdp_hybrid_shard":
        from accelerate.parallelism_config import ParallelismConfig

        found["parallelism_config"] = ParallelismConfig(
            dp_replicate_size=params.nodes, dp_shard_size=params.processes_per_node
        )
    return found
