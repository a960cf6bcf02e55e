"""The transformers-loadable output: a model directory in torchao's safetensors format.

Why torchao: it is the quantization backend transformers itself recommends for CPU, needs no GPU
package, and a checkpoint saved this way loads back with a plain
``AutoModelForCausalLM.from_pretrained(path)`` (the ``quantization_config`` in config.json names it)
with the weights *still quantized in memory*: int8 rows as ``Int8Tensor`` (its matmul reads the int8
weights directly), int4 groups as ``IntxUnpackedToInt8Tensor``. The alternatives fall short here:
compressed-tensors decompresses to full precision on CPU (at load or on the first forward), GPTQ's
own format needs gptqmodel's compiled kernels, bitsandbytes cannot hold GPTQ's integer grid, and
HQQ refuses CPU device maps. The cost: torchao keeps int4 values one per byte (unpacked), so an int4
file is about the size of an int8 one; GGUF Q4_0 is the compact int4 format.

The integers and scales written are exactly the quantizer's (RTN or GPTQ): nothing is quantized
again on the way. Tensors are written one at a time into shards of at most ``SHARD_BYTES``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.rtn import QuantizedWeight

SHARD_BYTES = 2 * 1024**3
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt")
SKIPPED_FILES = {"config.json", "model.safetensors.index.json", "README.md"}
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}

Quantizer = Callable[[str, torch.Tensor], QuantizedWeight | None]


def torchao_tensor(weight: QuantizedWeight, dtype: torch.dtype) -> torch.Tensor:
    """Wrap the quantizer's integers in the torchao tensor subclass transformers loads back."""
    from torchao.quantization import Int8Tensor, IntxUnpackedToInt8Tensor

    if weight.bits == 8 and weight.zero is None:
        return Int8Tensor(weight.q, weight.scale, [1, weight.q.shape[1]], dtype)
    # torchao's intx values are signed: [0, 2^b - 1] with zero z becomes [-2^(b-1), 2^(b-1) - 1]
    # with zero z - 2^(b-1) (int4: [0, 15] -> [-8, 7]).
    offset = 2 ** (weight.bits - 1)
    return IntxUnpackedToInt8Tensor(
        (weight.q.to(torch.int16) - offset).to(torch.int8),
        weight.scale,
        (weight.zero.to(torch.int16) - offset).to(torch.int8),
        getattr(torch, f"int{weight.bits}"),
        (1, weight.group_size),
        dtype,
        None,
    )


def torchao_config(bits: int, group_size: int, symmetric: bool) -> dict:
    """config.json's ``quantization_config`` describing the tensors written."""
    from torchao.quantization import Int8WeightOnlyConfig, IntxWeightOnlyConfig, MappingType, PerGroup
    from transformers import TorchAoConfig

    if bits == 8:
        quant_type: Any = Int8WeightOnlyConfig()
    else:
        mapping = MappingType.SYMMETRIC if symmetric else MappingType.ASYMMETRIC
        quant_type = IntxWeightOnlyConfig(
            weight_dtype=torch.int4, granularity=PerGroup(group_size), mapping_type=mapping
        )
    return TorchAoConfig(quant_type).to_dict()


class ShardWriter:
    """Collects flattened tensors and writes a shard whenever ``max_bytes`` would be exceeded."""

    def __init__(self, out_dir: Path, tensor_names: list[str], max_bytes: int = SHARD_BYTES) -> None:
        self.out_dir, self.max_bytes = out_dir, max_bytes
        # Every shard lists every tensor: transformers merges the shards' metadata before reading it.
        self.names_json = json.dumps(tensor_names)
        self.pending: dict[str, torch.Tensor] = {}
        self.metadata: dict[str, str] = {}
        self.written: list[tuple[Path, list[str]]] = []
        self.total = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

        data, metadata = flatten_tensor_state_dict({name: tensor})
        size = sum(t.numel() * t.element_size() for t in data.values())
        if self.pending and self._pending_bytes() + size > self.max_bytes:
            self._flush()
        self.pending.update({key: t.contiguous() for key, t in data.items()})
        self.metadata[name] = metadata[name]
        self.total += size

    def _pending_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.pending.values())

    def _flush(self) -> None:
        path = self.out_dir / f"shard-{len(self.written) + 1}.tmp"
        save_file(
            self.pending, path, metadata={**self.metadata, "tensor_names": self.names_json, "format": "pt"}
        )
        self.written.append((path, list(self.pending)))
        self.pending, self.metadata = {}, {}

    def close(self) -> None:
        """Name the shards as transformers expects, with an index when there is more than one."""
        if self.pending or not self.written:
            self._flush()
        if len(self.written) == 1:
            self.written[0][0].rename(self.out_dir / "model.safetensors")
            return
        weight_map = {}
        for i, (path, keys) in enumerate(self.written, start=1):
            final = f"model-{i:05d}-of-{len(self.written):05d}.safetensors"
            path.rename(self.out_dir / final)
            weight_map.update(dict.fromkeys(keys, final))
        index = {"metadata": {"total_size": self.total}, "weight_map": weight_map}
        (self.out_dir / "model.safetensors.index.json").write_text(
            json.dumps(index, indent=2), encoding="utf-8"
        )


def write_torchao(
    checkpoint: Checkpoint,
    out_dir: Path,
    quantize: Quantizer,
    replaced: Mapping[str, torch.Tensor],
    quantization_config: dict,
    card: str,
    shard_bytes: int = SHARD_BYTES,
) -> Path:
    """Stream the checkpoint into ``out_dir``: each tensor ``quantize`` returns integers for goes in
    quantized, the rest as they are (or as ``replaced`` gives them, e.g. corrected biases)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a retried attempt starts clean
    out_dir.mkdir(parents=True)
    writer = ShardWriter(out_dir, list(checkpoint.tensors), shard_bytes)
    for name, tensor in checkpoint:
        quantized = quantize(name, tensor)
        if quantized is not None:
            writer.add(name, torchao_tensor(quantized, tensor.dtype))
        else:
            writer.add(name, replaced.get(name, tensor).to(tensor.dtype).contiguous())
    writer.close()
    config = {**checkpoint.config, "quantization_config": quantization_config}
    (out_dir / "config.json").write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    copy_side_files(checkpoint.dir, out_dir)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    return out_dir


def copy_side_files(source: Path, target: Path) -> None:
    """Tokenizer, generation config, chat template: everything but weights, config and card."""
    for path in source.iterdir():
        if path.is_file() and path.name not in SKIPPED_FILES and not path.name.endswith(WEIGHT_SUFFIXES):
            shutil.copy2(path, target / path.name)
