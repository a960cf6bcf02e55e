"""GGUF files for llama.cpp-family runtimes (llama.cpp, Ollama, LM Studio), written with the ``gguf`` package.

Layout and metadata follow llama.cpp's convert_hf_to_gguf.py for the ``llama`` architecture
(LlamaForCausalLM and MistralForCausalLM checkpoints): llama.cpp's tensor names, Q and K
projection rows permuted from Hugging Face's rotary layout to llama.cpp's, the hyperparameters under
``llama.*``, and the tokenizer (see gguf_vocab.py).

Tensor types, per file (``F16``, ``Q8_0``, ``Q4_0``, and the k-quant mixes ``Q4_K_M``,
``Q5_K_M``, ``Q6_K``), are llama.cpp's choice per tensor (gguf_types.py): e.g. ``Q4_0`` keeps the
output head (or the tied embedding that serves as it) in Q8_0, ``Q4_K_M`` gives the head, and
``attn_v`` / ``ffn_down`` in some layers, Q6_K. Norms and biases are F32.

The blocks are ggml's reference quantization (``gguf.quants``) of the full-precision weights, or,
for the k-quants, llama.cpp's importance-weighted search (kquants.py) with the importance matrix
the caller passes (imatrix.py, measured on calibration text), except where the caller passes
integers: a gptq_int4 job (group_size 32, symmetric, on Q4_0's own scale rule) writes its own
GPTQ integers and float16 scales into the Q4_0 blocks unchanged, and its corrected biases, so the
file dequantizes to exactly the weights GPTQ chose.

The file is written streaming: the tensor table is planned from the safetensors headers, then each
tensor is loaded, converted and appended in turn, so memory holds one tensor at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import torch

from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.gguf_types import FILE_TYPES, fit_blocks, quantize_blocks, tensor_type
from trainers.quantize.gguf_vocab import add_tokenizer
from trainers.quantize.rtn import QuantizedWeight
from trainers.spec import SpecError

GGUF_ARCHITECTURES = {"LlamaForCausalLM", "MistralForCausalLM"}
BLOCK = 32
F32, F16 = gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16
Override = QuantizedWeight | torch.Tensor


@dataclass(frozen=True)
class PlannedTensor:
    source: str | None  # checkpoint name; None for tensors made here (rope_freqs)
    name: str
    qtype: gguf.GGMLQuantizationType
    shape: tuple[int, ...]


def check_gguf_support(config: dict) -> None:
    """Refuse, before any work, a model llama.cpp's llama architecture cannot hold."""
    architectures = config.get("architectures") or []
    if not GGUF_ARCHITECTURES & set(architectures):
        shown = ", ".join(architectures) or "not named in config.json"
        raise SpecError(
            f"outputs: GGUF export supports Llama-architecture models "
            f"({', '.join(sorted(GGUF_ARCHITECTURES))}); this model is {shown}. Export torchao instead"
        )
    rope = rope_parameters(config)
    if rope.get("rope_type", "default") not in ("default", "linear", "llama3"):
        raise SpecError(
            f"outputs: GGUF export does not support rope scaling {rope.get('rope_type')!r}; "
            "export torchao instead"
        )


def rope_parameters(config: dict) -> dict:
    """transformers 5 keeps rope settings in ``rope_parameters``; older configs in rope_theta/rope_scaling."""
    if config.get("rope_parameters"):
        return dict(config["rope_parameters"])
    return {"rope_theta": config.get("rope_theta", 10000.0), **(config.get("rope_scaling") or {})}


def plan_tensors(
    checkpoint: Checkpoint, file_type: str, tensor_types: Mapping[str, str] | None = None
) -> list[PlannedTensor]:
    """Each tensor's GGUF name and type; ``tensor_types`` (checkpoint name -> type name, e.g. a mixed
    precision plan's "Q5_0") overrides the file type for the quantized weights it names."""
    config = checkpoint.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    has_output = any(gguf_name == "output.weight" for gguf_name in _mapped(names, checkpoint))
    planned = []
    if rope_parameters(config).get("rope_type") == "llama3":
        planned.append(PlannedTensor(None, "rope_freqs.weight", F32, (_head_dim(config) // 2,)))
    for source, info in checkpoint.tensors.items():
        if source.endswith("rotary_emb.inv_freq"):
            continue
        name = names.get_name(source, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise SpecError(
                f"outputs: GGUF export does not know where tensor {source} goes; export torchao instead"
            )
        head = name == "output.weight" or (name == "token_embd.weight" and not has_output)
        qtype = tensor_type(file_type, name, info.shape, config["num_hidden_layers"], head)
        mixed = tensor_types.get(source) if tensor_types and len(info.shape) > 1 else None
        if mixed and not (head and file_type == "Q4_0"):  # a mixed-precision plan's own type
            qtype = fit_blocks(gguf.GGMLQuantizationType[mixed], info.shape[-1])
        planned.append(PlannedTensor(source, name, qtype, info.shape))
    return planned


def _mapped(names: gguf.TensorNameMap, checkpoint: Checkpoint) -> list[str | None]:
    return [names.get_name(source, try_suffixes=(".weight", ".bias")) for source in checkpoint.tensors]


def add_hyperparameters(writer: gguf.GGUFWriter, config: dict, file_type: str, name: str) -> None:
    heads = config["num_attention_heads"]
    rope = rope_parameters(config)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_rope_dimension_count(_head_dim(config))
    if _head_dim(config) != config["hidden_size"] // heads:
        writer.add_key_length(_head_dim(config))
        writer.add_value_length(_head_dim(config))
    if rope.get("rope_type") == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    writer.add_file_type(FILE_TYPES[file_type][1])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def write_gguf(
    checkpoint: Checkpoint,
    path: Path,
    file_type: str,
    name: str,
    overrides: Mapping[str, Override] | None = None,
    imatrix: Mapping[str, np.ndarray] | None = None,
    tensor_types: Mapping[str, str] | None = None,
) -> Path:
    """Write ``checkpoint`` as one GGUF file of ``file_type`` (a key of FILE_TYPES); ``imatrix``
    (importance per input column, by checkpoint weight name) weights the k-quant blocks;
    ``tensor_types``: per-tensor types where given (a mixed-precision plan, see ``plan_tensors``)."""
    overrides, imatrix = overrides or {}, imatrix or {}
    config = checkpoint.config
    check_gguf_support(config)
    plan = plan_tensors(checkpoint, file_type, tensor_types)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    add_hyperparameters(writer, config, file_type, name)
    add_tokenizer(writer, checkpoint.dir, config["vocab_size"])
    for item in plan:
        writer.add_tensor_info(item.name, *_info_shape(item), raw_dtype=item.qtype)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for item in plan:
        source = item.source or ""
        data = tensor_bytes(item, checkpoint, overrides.get(source), config, imatrix.get(source))
        writer.write_tensor_data(data)
    writer.close()
    return path


def _info_shape(item: PlannedTensor) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, numpy dtype, bytes) as GGUFWriter.add_tensor_info takes them; quantized as byte rows."""
    if item.qtype in (F32, F16):
        dtype = np.dtype(np.float32 if item.qtype == F32 else np.float16)
        return item.shape, dtype, math.prod(item.shape) * dtype.itemsize
    byte_shape = gguf.quant_shape_to_byte_shape(item.shape, item.qtype)
    return byte_shape, np.dtype(np.uint8), math.prod(byte_shape)


def tensor_bytes(
    item: PlannedTensor,
    checkpoint: Checkpoint,
    override: Override | None,
    config: dict,
    importance: np.ndarray | None = None,
) -> np.ndarray:
    if item.source is None:
        return llama3_rope_factors(config)
    if isinstance(override, QuantizedWeight):
        return pack_q4_0(permute_for_llama_cpp(override, item.source, config))
    tensor = override if override is not None else checkpoint.load(item.source)
    data = permute_for_llama_cpp(tensor.float(), item.source, config).numpy()
    return quantize_blocks(data, item.qtype, importance)  # permuting rows leaves columns' importance


def permute_rows(rows: torch.Tensor, heads: int) -> torch.Tensor:
    """Hugging Face's rotary layout (halves) to llama.cpp's (interleaved pairs), per head, on dim 0."""
    shape = rows.shape
    return rows.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def permute_for_llama_cpp(value: Override, source: str, config: dict) -> Override:
    if source.endswith(("q_proj.weight", "q_proj.bias")):
        heads = config["num_attention_heads"]
    elif source.endswith(("k_proj.weight", "k_proj.bias")):
        heads = config.get("num_key_value_heads") or config["num_attention_heads"]
    else:
        return value
    if isinstance(value, QuantizedWeight):  # rows carry their own scales, so permute them together
        return QuantizedWeight(
            permute_rows(value.q, heads),
            permute_rows(value.scale, heads),
            permute_rows(value.zero, heads),
            value.bits,
            value.group_size,
            value.symmetric,
        )
    return permute_rows(value, heads)


def pack_q4_0(weight: QuantizedWeight) -> np.ndarray:
    """GPTQ integers as Q4_0 blocks: float16 scale, then 16 bytes holding values j (low) and j+16 (high)."""
    if weight.bits != 4 or weight.group_size != BLOCK or not weight.symmetric:
        raise ValueError("Q4_0 holds symmetric 4-bit groups of 32")
    rows, cols = weight.q.shape
    q = weight.q.to(torch.uint8).reshape(rows, cols // BLOCK, BLOCK).numpy()
    packed = q[..., : BLOCK // 2] | (q[..., BLOCK // 2 :] << np.uint8(4))
    scale = weight.scale.numpy().astype(np.float16).reshape(rows, cols // BLOCK, 1).view(np.uint8)
    return np.concatenate([scale, packed], axis=-1).reshape(rows, -1)


def llama3_rope_factors(config: dict) -> np.ndarray:
    """Llama 3.1's per-frequency rope scaling, as convert_hf_to_gguf.py computes it."""
    rope = rope_parameters(config)
    dim, base = _head_dim(config), float(rope.get("rope_theta", 10000.0))
    factor, low, high = (
        rope.get("factor", 8.0),
        rope.get("low_freq_factor", 1.0),
        rope.get("high_freq_factor", 4.0),
    )
    old_context = rope.get("original_max_position_embeddings", 8192)
    factors = []
    for freq in 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim)):
        wavelength = 2 * math.pi / freq
        if wavelength < old_context / high:
            factors.append(1.0)
        elif wavelength > old_context / low:
            factors.append(factor)
        else:
            smooth = (old_context / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(factors, dtype=np.float32)
