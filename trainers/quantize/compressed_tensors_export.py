"""The vLLM-loadable output: a model directory in compressed-tensors' ``pack-quantized`` format.

vLLM reads this format for int4 weight-only models (its ``CompressedTensorsWNA16`` scheme; what
llm-compressor writes for AWQ and GPTQ models), and transformers loads it back through its
compressed-tensors quantizer (on CPU it decompresses to full precision). Each quantized Linear is
``weight_packed`` (int32, the integers packed by the ``compressed-tensors`` package's own
``PackedQuantizationCompressor``), ``weight_scale`` [out, groups], ``weight_shape`` and, for
asymmetric groups, a packed ``weight_zero_point``; config.json names the scheme.

The integers are exactly the quantizer's (AWQ or GPTQ): the compressor is given our dequantized
weights with our scales and zero points, and re-rounds each to the same level. The scales are
stored in float16 (they are float16-exact); a model stored in bfloat16 still gets float16 scales,
which vLLM and compressed-tensors cast as they need.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.gptq import GptqResult
from trainers.quantize.rtn import QuantizedWeight
from trainers.quantize.torchao_export import ShardWriter, copy_side_files


class PlainShardWriter(ShardWriter):
    """torchao's shard writer for plain tensors (no tensor subclasses to flatten)."""

    def add(self, name: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self._pending_bytes() + size > self.max_bytes:
            self._flush()
        self.pending[name] = tensor.contiguous()
        self.total += size


def quantization_config(group_size: int, symmetric: bool) -> dict:
    """config.json's ``quantization_config``: int4 groups on every Linear but the output head."""
    from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig, QuantizationScheme

    weights = QuantizationArgs(
        num_bits=4, type="int", symmetric=symmetric, strategy="group", group_size=group_size
    )
    config = QuantizationConfig(
        config_groups={"group_0": QuantizationScheme(targets=["Linear"], weights=weights)},
        format="pack-quantized",
        quantization_status="compressed",
        ignore=["lm_head"],
    )
    return config.model_dump(exclude_none=False) | {"quant_method": "compressed-tensors"}


def compressed_tensors(weight: QuantizedWeight) -> dict[str, torch.Tensor]:
    """One Linear's stored tensors, by their names under the module."""
    from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

    args = QuantizationArgs(
        num_bits=4, type="int", symmetric=weight.symmetric, strategy="group", group_size=weight.group_size
    )
    scheme = QuantizationScheme(targets=["Linear"], weights=args)
    # compressed-tensors' int4 levels are signed: [0, 15] with zero z is [-8, 7] with zero z - 8.
    state = {"weight": weight.dequantize(), "weight_scale": weight.scale.half().float()}
    if not weight.symmetric:
        state["weight_zero_point"] = (weight.zero.to(torch.int16) - 8).to(torch.int8)
    packed = PackedQuantizationCompressor.compress(state, scheme)
    packed["weight_scale"] = packed["weight_scale"].half()
    return packed


def write_compressed_tensors(checkpoint: Checkpoint, out_dir: Path, result: GptqResult) -> Path:
    """Stream the checkpoint into ``out_dir`` with ``result``'s integers and replaced tensors."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    writer = PlainShardWriter(out_dir, [])
    some = next(iter(result.weights.values()))
    for name, tensor in checkpoint:
        if name in result.weights:
            module = name.removesuffix(".weight")
            for key, value in compressed_tensors(result.weights[name]).items():
                writer.add(f"{module}.{key}", value.contiguous())
        else:
            writer.add(name, result.biases.get(name, tensor).to(tensor.dtype).contiguous())
    writer.close()
    config = {
        **checkpoint.config,
        "quantization_config": quantization_config(some.group_size, some.symmetric),
    }
    (out_dir / "config.json").write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    copy_side_files(checkpoint.dir, out_dir)
    (out_dir / "README.md").write_text(
        "# Quantized with Hone (int4 groups, compressed-tensors pack-quantized)\n\n"
        "Serve with `vllm serve this_directory`, or load with "
        "`transformers.AutoModelForCausalLM.from_pretrained(this_directory)` (needs `compressed-tensors`).\n",
        encoding="utf-8",
    )
    return out_dir
