"""Round-to-nearest against references written here in numpy, one value at a time, from the definitions."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from trainers.quantize.rtn import quantize_int4_groupwise, quantize_int8_per_channel, quantize_rtn


def weights(rows: int = 24, cols: int = 96, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=generator) * 0.05
    w[3] += 0.2  # a skewed row: asymmetric groups should use their range better
    w[5] = 0.0  # an all-zero row must not divide by zero
    return w


def reference_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, scales = np.zeros(w.shape, dtype=np.int64), np.zeros(w.shape[0])
    for r, row in enumerate(w):
        scale = max(abs(v) for v in row) / 127 or 1.0
        scales[r] = scale
        for c, v in enumerate(row):
            q[r, c] = min(127, max(-127, int(np.rint(v / scale))))
    return q, scales


def reference_int4_group(group: np.ndarray, symmetric: bool) -> tuple[list[int], float, int]:
    if symmetric:
        m = group[np.argmax(np.abs(group))]
        scale, zero = float(np.float16(m / -8)), 8
    else:
        low, high = min(group.min(), 0.0), max(group.max(), 0.0)
        scale = float(np.float16((high - low) / 15))
    scale = scale or 1.0
    if not symmetric:
        zero = min(15, max(0, int(np.rint(-low / scale))))
    return [min(15, max(0, int(np.rint(v / scale)) + zero)) for v in group], scale, zero


def test_int8_matches_the_per_channel_reference_and_stays_within_half_a_step():
    w = weights()
    quantized = quantize_int8_per_channel(w)
    q, scales = reference_int8(w.double().numpy().astype(np.float32))
    assert np.array_equal(quantized.q.numpy(), q)
    assert np.allclose(quantized.scale.squeeze(1).numpy(), scales, rtol=1e-6)
    error = (quantized.dequantize() - w).abs()
    assert torch.all(error <= quantized.scale / 2 * (1 + 1e-5) + 1e-12)
    assert torch.equal(quantized.dequantize()[5], torch.zeros(96))


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("group_size", [16, 32])
def test_int4_matches_the_groupwise_reference(symmetric: bool, group_size: int):
    w = weights()
    quantized = quantize_int4_groupwise(w, group_size, symmetric)
    data = w.numpy()
    for r in range(data.shape[0]):
        for g in range(data.shape[1] // group_size):
            columns = slice(g * group_size, (g + 1) * group_size)
            q, scale, zero = reference_int4_group(data[r, columns], symmetric)
            assert quantized.q[r, columns].tolist() == q
            assert quantized.scale[r, g].item() == pytest.approx(scale, rel=1e-6)
            assert quantized.zero[r, g].item() == zero


def test_int4_errors_stay_within_one_step_and_half_a_step_unless_clipped():
    w = weights()
    for symmetric in (False, True):
        quantized = quantize_int4_groupwise(w, 32, symmetric)
        step = quantized.scale.abs().repeat_interleave(32, dim=1)
        error = (quantized.dequantize() - w).abs()
        clipped = (quantized.q == 15) | (quantized.q == 0)
        assert torch.all(error[~clipped] <= step[~clipped] / 2 * 1.001)
        # symmetric's top level clips up to a step (the largest value maps to -8, the other side stops at
        # +7); asymmetric's range ends are off by at most half a step plus the float16 rounding of the scale
        assert torch.all(error <= step * (1.001 if symmetric else 0.5 + 15 * 2**-11 + 1e-3))


def test_asymmetric_groups_fit_a_skewed_row_better_than_symmetric():
    w = weights()
    asymmetric = (quantize_int4_groupwise(w, 32, False).dequantize() - w)[3].pow(2).mean()
    symmetric = (quantize_int4_groupwise(w, 32, True).dequantize() - w)[3].pow(2).mean()
    assert asymmetric < symmetric


def test_symmetric_int4_in_blocks_of_32_is_llama_cpp_q4_0():
    """ggml's reference Q4_0 picks the same scale (before float16) and levels; compare dequantized values."""
    w = weights(rows=16, cols=64, seed=1)
    ours = quantize_int4_groupwise(w, 32, symmetric=True).dequantize().numpy()
    blocks = gguf.quants.quantize(w.numpy(), gguf.GGMLQuantizationType.Q4_0)
    theirs = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType.Q4_0).reshape(w.shape)
    step = np.abs(theirs).max(axis=1, keepdims=True) / 8
    assert (
        np.mean(np.isclose(ours, theirs, atol=1e-3 * step)) > 0.99
    )  # ties at float16-rounded scales may differ


def test_group_size_must_divide_the_columns_and_methods_are_named():
    with pytest.raises(ValueError, match="groups of 64"):
        quantize_int4_groupwise(torch.zeros(4, 96), 64, False)
    with pytest.raises(ValueError, match="unknown quantize method 'rtn_int2'; known methods: rtn_int8, "):
        quantize_rtn(torch.zeros(4, 32), "rtn_int2")
