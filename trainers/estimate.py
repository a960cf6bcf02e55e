"""A pre-flight estimate of a fine-tune (LoRA and every other method): parameters, memory and time.

Everything is computed from the model's ``config.json`` (no weights are read, nothing is
downloaded) and from where the job would run. The numbers are approximations meant to answer
"will it fit, and is it minutes or days?", not to replace a measurement:

- Parameters: embeddings, the linear layers of each block, norms and the output head, from the
  config; LoRA adds ``r * (in + out)`` per adapted linear layer (Hu et al. 2021, "LoRA");
  ``trainers.trainable.trainable_parameter_count`` counts what every other training method trains.
- Memory while training: frozen weights in the training dtype (bf16 on GPUs, fp32 on CPUs, as
  the trainer chooses); the adapter, its gradients and AdamW's two moments in fp32 (16 bytes per
  trainable parameter); activations counted tensor by tensor for a Llama-style block with LoRA
  on every linear layer (``activations_per_token``; for encoders the 16-bit term of Korthikanti
  et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", eq. 2), in the
  training dtype; fp32 logits, their log-softmax and gradient, ``3 * 4 * s*b*V`` bytes; and a
  fixed allowance for the framework itself. Checked on CPU against a measured LoRA step of a
  random 8-layer Llama (see tests/trainers/test_estimate.py): within the allocator's slack.
- Time: ``4 * N`` FLOPs per trained token with frozen weights (forward 2N, backward 2N without
  weight gradients; full fine-tuning is 6N, Kaplan et al. 2020), at a modest share of the
  device's peak, plus start-up, reading and writing the weights, a per-step overhead, and the
  sample generated after each evaluation. Given as a range; ``calibrated`` scales it by how long
  recent runs on the same compute profile really took (``jobs.guided.timing``).

Nothing here imports Django; the platform passes in the profile's strings.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

# Devices (what a compute profile gives a job) live in trainers.devices; re-exported here.
from trainers.devices import (  # noqa: F401
    CPU_FLOPS_PER_CORE,
    GIB,
    GPU_MEMORY_GIB,
    GPU_PEAK_TFLOPS,
    GPU_UTILISATION,
    Device,
    device_for,
    gpu_memory_bytes,
    quantity,
)

# The framework itself: CUDA context and allocator slack on GPUs, the Python/torch runtime on CPUs.
FRAMEWORK_BYTES = {"gpu": int(1.0 * GIB), "cpu": int(0.5 * GIB)}
STARTUP_SECONDS = 20.0  # starting Python, importing torch, transformers and peft, reading the data
WEIGHTS_BYTES_PER_SECOND = 200e6  # reading the fp32 weights, and writing the result
STEP_OVERHEAD_SECONDS = {"gpu": 0.05, "cpu": 0.1}  # Trainer bookkeeping per step
# One greedy token at batch 1 (the sample after each evaluation): small models spend it in overhead.
GENERATE_TOKEN_SECONDS = {"gpu": 0.02, "cpu": 0.03}
SAMPLE_TOKENS = 32  # trainers.callbacks.SAMPLE_MAX_NEW_TOKENS
# Where a run ends relative to the uncalibrated estimate (bench/estimate_vs_real.py: 0.8 to 1.9×
# across the demo runs); a profile's own measured runs narrow it (``calibrated``).
UNCALIBRATED_RANGE = (0.7, 2.0)
ALLOCATOR_SLACK = 1.2  # freed blocks the allocator keeps for reuse: measured about a fifth more
FITS_SHARE = 0.9  # leave a tenth of the memory for fragmentation and everything else


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about a transformer, read from its config."""

    family: str  # "decoder" (Llama/Mistral/Qwen-style) or "encoder" (BERT-style)
    vocab_size: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    tied_embeddings: bool
    max_positions: int
    type_vocab_size: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def block_linears(self) -> list[tuple[str, int, int]]:
        """(module name, in features, out features) of the linear layers in one block."""
        h, i, kv = self.hidden, self.intermediate, self.kv_heads * self.head_dim
        if self.family == "encoder":
            return [
                ("query", h, h),
                ("key", h, h),
                ("value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", h, i),
                ("output.dense", i, h),
            ]
        return [
            ("q_proj", h, self.heads * self.head_dim),
            ("k_proj", h, kv),
            ("v_proj", h, kv),
            ("o_proj", self.heads * self.head_dim, h),
            ("gate_proj", h, i),
            ("up_proj", h, i),
            ("down_proj", i, h),
        ]


def read_config(model_dir: str | Path) -> dict | None:
    """The model's config.json, or None when the directory has none (a hub id, an adapter)."""
    path = Path(model_dir) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def shape_from_config(config: dict) -> ModelShape | None:
    """The shape of a Llama-style decoder or a BERT-style encoder; None for anything else."""
    try:
        hidden, layers, heads = (
            config["hidden_size"],
            config["num_hidden_layers"],
            config["num_attention_heads"],
        )
        common = {
            "vocab_size": int(config["vocab_size"]),
            "hidden": int(hidden),
            "intermediate": int(config.get("intermediate_size") or 4 * hidden),
            "layers": int(layers),
            "heads": int(heads),
            "kv_heads": int(config.get("num_key_value_heads") or heads),
            "max_positions": int(config.get("max_position_embeddings") or 0),
        }
    except (KeyError, TypeError, ValueError):
        return None
    if config.get("model_type") in ("bert", "roberta", "xlm-roberta", "distilbert", "electra"):
        return ModelShape(
            "encoder", tied_embeddings=True, type_vocab_size=int(config.get("type_vocab_size", 0)), **common
        )
    if "head_dim" in config and config["head_dim"] and config["head_dim"] * heads != hidden:
        return None  # an unusual attention layout; better no estimate than a wrong one
    return ModelShape("decoder", tied_embeddings=bool(config.get("tie_word_embeddings", False)), **common)


def parameter_count(shape: ModelShape) -> int:
    """Every weight of the model, as ``model.num_parameters()`` counts them."""
    h = shape.hidden
    linears = sum(i * o for _name, i, o in shape.block_linears())
    if shape.family == "encoder":
        biases = sum(o for _name, _i, o in shape.block_linears())
        block = linears + biases + 2 * 2 * h  # two LayerNorms, weight and bias
        embeddings = (shape.vocab_size + shape.max_positions + shape.type_vocab_size) * h + 2 * h
        pooler = h * h + h
        return embeddings + shape.layers * block + pooler
    block = linears + 2 * h  # two RMSNorm weights
    head = 0 if shape.tied_embeddings else shape.vocab_size * h
    return shape.vocab_size * h + shape.layers * block + h + head


def lora_parameter_count(shape: ModelShape, rank: int, target_modules: list[str] | str = "all-linear") -> int:
    """Trainable parameters LoRA adds: ``rank * (in + out)`` for each adapted linear layer.

    "all-linear" adapts every linear layer of every block and not the output head, as peft does.
    Names match a module's last components, as peft matches ``target_modules``."""

    def chosen(name: str) -> bool:
        if target_modules == "all-linear":
            return True
        return any(name == t or name.endswith(f".{t}") or t.endswith(f".{name}") for t in target_modules)

    per_block = sum(rank * (i + o) for name, i, o in shape.block_linears() if chosen(name))
    return shape.layers * per_block


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed while training, by what they hold."""

    weights: int
    adapter: int
    gradients: int
    optimizer: int
    activations: int
    framework: int

    @property
    def total(self) -> int:
        return (
            self.weights + self.adapter + self.gradients + self.optimizer + self.activations + self.framework
        )

    def parts(self) -> list[tuple[str, int]]:
        return [
            ("model weights (frozen)", self.weights),
            ("adapter weights", self.adapter),
            ("gradients", self.gradients),
            ("optimizer state (AdamW)", self.optimizer),
            ("activations", self.activations),
            ("framework", self.framework),
        ]


def activations_per_token(shape: ModelShape, seq_len: int, *, lora: bool = True) -> float:
    """Values one block keeps for the backward pass, per token (to multiply by bytes per value).

    Decoders, counted tensor by tensor as a Llama block stores them: both RMSNorms' input and
    output, q/k/v and their rotary copies, attention scores and probabilities (a·s each: no
    flash attention assumed), the attention output, the gated MLP's four i-wide tensors, and
    for LoRA on every linear layer each adapter's dropout copy of its input. Encoders: the
    16-bit term of Korthikanti et al. 2022 (34·h, 5·a·s for attention), in values.
    """
    h, i, a, kv = shape.hidden, shape.intermediate, shape.heads, shape.kv_heads * shape.head_dim
    if shape.family == "encoder":
        return 17 * h + 2.5 * a * seq_len
    block = 4 * h + (h + 2 * kv) + (h + kv) + 2 * a * seq_len + 2 * h + 4 * i
    adapters = (3 * h + h + 2 * h + i) if lora else 0
    return block + adapters


def training_memory(
    shape: ModelShape,
    *,
    trainable: int,
    seq_len: int,
    batch_size: int,
    device: str = "gpu",
    trains_weights: bool = False,
    adapter_inputs: bool | None = None,
) -> MemoryEstimate:
    """Memory to fine-tune at this sequence length and per-device batch size.

    ``trains_weights``: the model's own weights are what trains (full fine-tuning, GaLore), so no
    adapter keeps a dropout copy of its input, and on a CPU, where the weights are fp32, they are
    themselves what AdamW updates: no separate trained copy. On a GPU an fp32 master copy is counted
    as mixed-precision training keeps one (an upper bound for a model loaded in bf16). Otherwise
    (LoRA and the other adapters) the frozen weights are in the training dtype and the adapter, its
    gradients and AdamW's two moments in fp32 (16 bytes per trained parameter). ``adapter_inputs``:
    whether adapters keep a dropout copy of their input (LoRA's; default: unless ``trains_weights``)."""
    value_bytes = 2 if device == "gpu" else 4  # the trainer uses bf16 on GPUs, fp32 on CPUs
    tokens = seq_len * batch_size
    # Every block's saved values, plus about two blocks' worth alive at once while the backward
    # pass computes their gradients.
    lora = not trains_weights if adapter_inputs is None else adapter_inputs
    per_token = activations_per_token(shape, seq_len, lora=lora)
    blocks = (shape.layers + 2) * per_token * value_bytes * tokens
    # The loss upcasts logits to fp32 and keeps them, their log-softmax and their gradient.
    logits = 3 * 4 * tokens * shape.vocab_size
    own_copy = trains_weights and value_bytes == 4
    return MemoryEstimate(
        weights=parameter_count(shape) * value_bytes,
        adapter=0 if own_copy else trainable * 4,
        gradients=trainable * 4,
        optimizer=trainable * 8,
        activations=int((blocks + logits) * ALLOCATOR_SLACK),
        framework=FRAMEWORK_BYTES[device],
    )


def forward_only_memory(
    shape: ModelShape, *, seq_len: int, batch_size: int, device: str = "gpu"
) -> MemoryEstimate:
    """Memory of MeZO's forward-only training (Malladi et al. 2023), which is inference memory: the
    weights, no gradients and no optimizer state; about two blocks' activations alive at once (none
    kept for a backward pass), the fp32 logits and the loss's log-softmax of them, and one weight-sized
    random direction ``z`` at a time (the largest matrix, the embeddings)."""
    value_bytes = 2 if device == "gpu" else 4
    tokens = seq_len * batch_size
    blocks = 2 * activations_per_token(shape, seq_len, lora=False) * value_bytes * tokens
    logits = 2 * 4 * tokens * shape.vocab_size
    noise = shape.vocab_size * shape.hidden * value_bytes
    return MemoryEstimate(
        weights=parameter_count(shape) * value_bytes,
        adapter=0,
        gradients=0,
        optimizer=0,
        activations=int((blocks + logits + noise) * ALLOCATOR_SLACK),
        framework=FRAMEWORK_BYTES[device],
    )


def fits(memory: MemoryEstimate, device: Device) -> bool | None:
    """Whether the estimate fits the device with room to spare; None when its memory is unknown."""
    if device.memory_bytes is None:
        return None
    return memory.total <= device.memory_bytes * FITS_SHARE


@dataclass(frozen=True)
class TimeEstimate:
    steps: int
    tokens: int
    seconds: float  # the most likely wall-clock time
    low: float = 0.0  # the range the run should end within (UNCALIBRATED_RANGE until measured)
    high: float = 0.0


def training_time(
    *,
    total_params: int,
    trainable: int,
    tokens_per_epoch: int,
    epochs: float,
    steps: int,
    eval_tokens: int,
    evals: int,
    device: Device,
    sample_tokens: int = SAMPLE_TOKENS,
) -> TimeEstimate:
    """Wall-clock seconds for the run: compute at the device's usable rate, plus what does not scale
    with the data: start-up, reading and writing the weights, a per-step overhead, and the sample
    generation after each evaluation (one token at a time, which small models spend in overhead)."""
    trained_tokens = int(tokens_per_epoch * epochs)
    train_flops = (4 * total_params + 2 * trainable) * trained_tokens
    runs = evals + 1  # plus the baseline evaluation before training
    eval_flops = 2 * total_params * eval_tokens * runs
    seconds = (train_flops + eval_flops) / device.flops
    seconds += STARTUP_SECONDS + 2 * total_params * 4 / WEIGHTS_BYTES_PER_SECOND  # load, then save
    seconds += steps * STEP_OVERHEAD_SECONDS[device.kind]
    seconds += runs * sample_tokens * (2 * total_params / device.flops + GENERATE_TOKEN_SECONDS[device.kind])
    low, high = UNCALIBRATED_RANGE
    return TimeEstimate(steps, trained_tokens, seconds, low=seconds * low, high=seconds * high)


def calibrated(time: TimeEstimate, ratios: list[float]) -> TimeEstimate:
    """The estimate scaled by how long runs on the same device really took: ``ratios`` are measured
    seconds ÷ estimated seconds of recent runs. The median sets the likely time, the smallest and
    largest ratio (widened by a tenth) the range."""
    if not ratios:
        return time
    ordered = sorted(ratios)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return dataclasses.replace(
        time,
        seconds=time.seconds * median,
        low=time.seconds * ordered[0] * 0.9,
        high=time.seconds * ordered[-1] * 1.1,
    )


def optimizer_steps(rows: int, batch_size: int, accumulation: int, epochs: float) -> int:
    """Optimizer steps the trainer will take (as ``trainers.train.plan_steps`` counts them)."""
    per_epoch = max(math.ceil(math.ceil(rows / batch_size) / accumulation), 1)
    return max(math.ceil(epochs * per_epoch), 1)


def human_bytes(count: int | float) -> str:
    """'512 MiB', '1.4 GiB'."""
    for size, unit in ((1024**4, "TiB"), (GIB, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(count)} B"
