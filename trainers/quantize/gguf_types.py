"""Which ggml type each tensor of a GGUF file gets, and the block quantizer that writes it.

The per-tensor choice follows llama.cpp's ``llama_tensor_get_type`` (src/llama-quant.cpp) for the
llama architecture without experts:

- ``Q4_K_M`` / ``Q5_K_M``: every 2-D weight Q4_K / Q5_K, except the output head (or the tied
  embedding serving as it) in Q6_K, and ``attn_v`` and ``ffn_down`` in Q6_K in the layers
  ``use_more_bits`` picks (the first and last eighth, and every third layer between);
- ``Q6_K``: every 2-D weight Q6_K;
- ``Q8_0``: every 2-D weight Q8_0; ``Q4_0``: Q4_0 with the head in Q8_0 (Hone's rule since its
  first GGUF export; llama.cpp would pick Q6_K);
- a weight whose rows do not split into the type's blocks falls back as llama.cpp does
  (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0; F16 when not even blocks of 32 fit);
- norms and biases F32.
"""

from __future__ import annotations

import re

import gguf
import numpy as np

from trainers.quantize import kquants

T = gguf.GGMLQuantizationType
FILE_TYPES = {
    "F16": (T.F16, gguf.LlamaFileType.MOSTLY_F16),
    "Q8_0": (T.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    "Q4_0": (T.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0),
    "Q4_K_M": (T.Q4_K, gguf.LlamaFileType.MOSTLY_Q4_K_M),
    "Q5_K_M": (T.Q5_K, gguf.LlamaFileType.MOSTLY_Q5_K_M),
    "Q6_K": (T.Q6_K, gguf.LlamaFileType.MOSTLY_Q6_K),
}
K_QUANT_FILE_TYPES = ("Q4_K_M", "Q5_K_M", "Q6_K")
FALLBACK = {T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}
BLOCK_ROUTINES = {
    T.Q4_K: kquants.quantize_q4_k,
    T.Q5_K: kquants.quantize_q5_k,
    T.Q6_K: kquants.quantize_q6_k,
}
_LAYER = re.compile(r"^blk\.(\d+)\.")


def use_more_bits(layer: int, layers: int) -> bool:
    """llama.cpp's choice of layers that get more bits in the _M mixes."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def tensor_type(file_type: str, name: str, shape: tuple[int, ...], layers: int, head: bool) -> T:
    """The ggml type of tensor ``name`` (llama.cpp's name) in a ``file_type`` file."""
    base = FILE_TYPES[file_type][0]
    if len(shape) == 1:
        return T.F32
    chosen = base
    if head and file_type == "Q4_0":
        chosen = T.Q8_0
    elif head and file_type in K_QUANT_FILE_TYPES:
        chosen = T.Q6_K if shape[-1] % kquants.QK_K == 0 else T.Q8_0
    elif file_type in ("Q4_K_M", "Q5_K_M") and name.endswith(("attn_v.weight", "ffn_down.weight")):
        match = _LAYER.match(name)
        if match and use_more_bits(int(match.group(1)), layers):
            chosen = T.Q6_K
    return fit_blocks(chosen, shape[-1])


def fit_blocks(qtype: T, columns: int) -> T:
    """``qtype`` if rows of ``columns`` split into its blocks, else llama.cpp's fallback."""
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if columns % block == 0:
        return qtype
    fallback = FALLBACK.get(qtype, qtype)
    return fallback if columns % gguf.GGML_QUANT_SIZES[fallback][0] == 0 else T.F16


def quantize_blocks(data: np.ndarray, qtype: T, imatrix: np.ndarray | None) -> np.ndarray:
    """The bytes of ``data`` [rows, columns] as ``qtype`` blocks; the importance matrix weights the
    k-quants and Q5_0 (ggml's other quantizers take none: Q8_0, Q4_0 and Q5_1 are its reference ones)."""
    if qtype in BLOCK_ROUTINES:
        return BLOCK_ROUTINES[qtype](data, imatrix)
    if qtype == T.Q5_0 and imatrix is not None:
        return kquants.quantize_q5_0(data, imatrix)
    if qtype == T.F32:
        return data.astype(np.float32)
    if qtype == T.F16:
        return data.astype(np.float16)
    return gguf.quants.quantize(data, qtype)
