"""llama.cpp's k-quant block quantization (Q4_K, Q5_K, Q6_K) and Q5_0, weighted by an importance matrix.

A port to numpy, vectorized over blocks, of ggml-quants.c's ``quantize_row_q4_K_impl``,
``quantize_row_q5_K_impl``, ``quantize_row_q6_K_impl`` and ``quantize_row_q5_0_impl`` with the
searches they call (``make_qkx3_quants``, ``make_qp_quants``, ``make_qx_quants``), so a file Hone
writes holds the blocks llama.cpp's own ``llama-quantize --imatrix`` would choose (up to float
summation order). The bytes are ggml's block layout, which ``gguf.quants.dequantize`` reads back.

Each weight row of ``n`` columns is cut into super-blocks of 256 (Q4_K/Q5_K: 8 sub-blocks of 32,
each with a 6-bit scale and 6-bit min; Q6_K: 16 sub-blocks of 16 with int8 scales). Against
ggml's own ``ggml_quantize_chunk`` (tests/trainers/quantize/test_gguf_llamacpp.py) 98-100 % of the
blocks come out byte for byte; the rest are near-ties tipped by float summation order. The rounding
error of weight ``x_j`` in column ``j`` is weighted by ``imatrix[j] * sqrt(σ² + x_j²)`` (Q6_K: by
``imatrix[j]`` alone, as llama.cpp does), where ``imatrix`` is the mean of the squared activations
entering that column on the calibration text (see imatrix.py), so columns the data leans on are
kept more exactly. Without an importance matrix the weights are llama.cpp's fallback in the same
functions (``σ + |x|``; Q6_K ``x²``); llama.cpp's ``llama-quantize`` without ``--imatrix`` calls
the older ``*_ref`` quantizers instead, so those blocks may differ slightly from Hone's.
"""

from __future__ import annotations

import numpy as np

QK_K = 256
F32 = np.float32
GROUP_MAX_EPS = F32(1e-15)


def nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml's nearest_int: round half to even, as the float32 magic-number trick does."""
    return np.rint(x).astype(np.int32)


def make_qx_quants(x: np.ndarray, nmax: int, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric scale per row of ``x`` [blocks, n] with levels -nmax..nmax-1 (rmse_type 1): the
    scale of the signed largest value tried at 19 nearby steps, keeping the weighted least-squares best.
    Returns the scales [blocks] and levels + nmax [blocks, n]."""
    w = x * x if weights is None else weights
    rows = np.arange(len(x))
    largest = x[rows, np.abs(x).argmax(axis=1)]
    zero = np.abs(largest) < GROUP_MAX_EPS
    safe_max = np.where(zero, F32(1), largest)

    def levels(iscale: np.ndarray) -> np.ndarray:
        return np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1).astype(F32)

    level = levels(F32(-nmax) / safe_max)
    sumlx, suml2 = (w * x * level).sum(axis=1), (w * level * level).sum(axis=1)
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1), F32(0))
    best, chosen = scale * sumlx, level
    for step in [s for s in range(-9, 10) if s]:
        trial = levels(F32(-(nmax + F32(0.1) * step)) / safe_max)
        lx, l2 = (w * x * trial).sum(axis=1), (w * trial * trial).sum(axis=1)
        better = (l2 > 0) & (lx * lx > best * l2)
        chosen = np.where(better[:, None], trial, chosen)
        scale = np.where(better, lx / np.where(l2 > 0, l2, 1), scale)
        best = np.where(better, scale * lx, best)
    scale = np.where(zero, F32(0), scale)
    return scale.astype(F32), np.where(zero[:, None], 0, chosen + nmax).astype(np.int32)


def make_qkx3_quants(
    x: np.ndarray, weights: np.ndarray, nmax: int, rmin: float = -0.9, rdelta: float = 0.05, nstep: int = 36
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale and min per row of ``x`` [blocks, n] with levels 0..nmax, ``x ≈ scale * L - min``: the
    range [min(x, 0), max x] cut into nmax steps, then ``nstep`` + 1 step counts tried, each with the
    weighted least-squares scale and min, keeping the lowest weighted squared error."""
    low, high = np.minimum(x.min(axis=1), 0), x.max(axis=1)
    flat = high <= low
    sum_w, sum_x = weights.sum(axis=1), (weights * x).sum(axis=1)

    def levels(steps: np.ndarray | float, minimum: np.ndarray) -> np.ndarray:
        # as ggml's loop, each trial measures from the best min so far (its range max - min too)
        span = np.where(flat, F32(1), high - minimum)
        return np.clip(nearest_int((steps / span)[:, None] * (x - minimum[:, None])), 0, nmax).astype(F32)

    chosen = levels(F32(nmax), low)
    scale, minimum = np.where(flat, F32(1), high - low) / F32(nmax), low.copy()
    best = (weights * (scale[:, None] * chosen + low[:, None] - x) ** 2).sum(axis=1)
    for step in range(nstep + 1):
        trial = levels(F32(rmin) + F32(rdelta) * step + nmax, minimum)
        weighted = weights * trial
        sl, sl2, sxl = weighted.sum(1), (weighted * trial).sum(1), (weighted * x).sum(1)
        det = sum_w * sl2 - sl * sl
        valid = det > 0
        det = np.where(valid, det, 1)
        this_scale, this_min = (sum_w * sxl - sum_x * sl) / det, (sl2 * sum_x - sl * sxl) / det
        positive = this_min > 0
        this_scale = np.where(positive, sxl / np.where(sl2 > 0, sl2, 1), this_scale)
        this_min = np.where(positive, 0, this_min)
        error = (weights * (this_scale[:, None] * trial + this_min[:, None] - x) ** 2).sum(axis=1)
        better = valid & (error < best)
        chosen = np.where(better[:, None], trial, chosen)
        best = np.where(better, error, best)
        scale, minimum = np.where(better, this_scale, scale), np.where(better, this_min, minimum).astype(F32)
    scale = np.where(flat, F32(0), scale)
    chosen = np.where(flat[:, None], 0, chosen)
    return scale.astype(F32), (-minimum).astype(F32), chosen.astype(np.int32)


def make_qp_quants(x: np.ndarray, nmax: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative values ``x`` [blocks, n] (sub-block scales or mins) on levels 0..nmax with one
    scale per row: 9 step counts tried, then up to 5 passes moving single levels while that helps."""
    largest = x.max(axis=1)
    zero = largest < GROUP_MAX_EPS
    largest = np.where(zero, F32(1), largest)

    def mse(iscale: np.ndarray) -> np.ndarray:
        level = np.minimum(nearest_int(iscale[:, None] * x), nmax)
        return (weights * (x - level / iscale[:, None]) ** 2).sum(axis=1)

    iscale = F32(nmax) / largest
    best = (weights * (x - nearest_int(iscale[:, None] * x) / iscale[:, None]) ** 2).sum(axis=1)
    for step in [s for s in range(-4, 5) if s]:
        trial = (F32(0.1) * step + nmax) / largest
        error = mse(trial)
        iscale, best = np.where(error < best, trial, iscale), np.minimum(error, best)
    level = np.minimum(nearest_int(iscale[:, None] * x), nmax).astype(F32)
    sumlx, suml2 = (weights * x * level).sum(axis=1), (weights * level * level).sum(axis=1)
    for _ in range(5):
        changed = np.zeros(len(x), dtype=bool)
        for i in range(x.shape[1]):
            w, xi, li = weights[:, i], x[:, i], level[:, i]
            slx, sl2 = sumlx - w * xi * li, suml2 - w * li * li
            usable = (slx > 0) & (sl2 > 0)
            new = np.minimum(nearest_int(xi * sl2 / np.where(usable, slx, 1)), nmax).astype(F32)
            slx, sl2 = slx + w * xi * new, sl2 + w * new * new
            take = usable & (new != li) & (slx * slx * suml2 > sumlx * sumlx * sl2)
            level[:, i] = np.where(take, new, li)
            sumlx, suml2 = np.where(take, slx, sumlx), np.where(take, sl2, suml2)
            changed |= take
        if not changed.any():
            break
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1), F32(0))
    return np.where(zero, F32(0), scale).astype(F32), np.where(zero[:, None], 0, level).astype(np.int32)


def _f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16)


def _super_blocks(weight: np.ndarray, imatrix: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows cut into super-blocks [blocks, 256] and the matching importance per value (or None)."""
    rows, cols = weight.shape
    blocks = weight.astype(F32).reshape(-1, QK_K)
    if imatrix is None:
        return blocks, None
    return blocks, np.broadcast_to(imatrix.astype(F32).reshape(1, -1), (rows, cols)).reshape(-1, QK_K)


def _k_weights(blocks: np.ndarray, importance: np.ndarray | None) -> np.ndarray:
    """Q4_K/Q5_K's error weights per value: imatrix × sqrt(σ² + x²), or σ + |x| without one."""
    sigma2 = F32(2) * (blocks * blocks).sum(axis=1, keepdims=True) / QK_K
    if importance is None:
        return np.sqrt(sigma2) + np.abs(blocks)
    return importance * np.sqrt(sigma2 + blocks * blocks)


def _scale_min_k(blocks: np.ndarray, importance: np.ndarray | None, nmax: int):
    """Q4_K/Q5_K: per super-block d, dmin (float16), 6-bit sub-block scales and mins, and levels."""
    n = len(blocks)
    sub = blocks.reshape(n * 8, 32)
    weights = _k_weights(blocks, importance).reshape(n * 8, 32)
    scales, mins, levels = make_qkx3_quants(sub, weights, nmax)
    sums = weights.sum(axis=1).reshape(n, 8)
    d, ls = make_qp_quants(scales.reshape(n, 8), 63, sums)
    dmin, lm = make_qp_quants(mins.reshape(n, 8), 63, sums)
    d16, dmin16 = _f16(d), _f16(dmin)
    step = (d16.astype(F32)[:, None] * ls).reshape(n * 8, 1)
    offset = (dmin16.astype(F32)[:, None] * lm).reshape(n * 8, 1)
    requantized = np.clip(nearest_int((sub + offset) / np.where(step == 0, 1, step)), 0, nmax)
    levels = np.where(step == 0, levels, requantized).reshape(n, QK_K)
    return d16, dmin16, _pack_scales_k4(ls.astype(np.uint8), lm.astype(np.uint8)), levels.astype(np.uint8)


def _pack_scales_k4(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Eight 6-bit scales and mins in 12 bytes, ggml's get_scale_min_k4 layout."""
    packed = np.zeros((len(ls), 12), dtype=np.uint8)
    packed[:, 0:4] = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    packed[:, 4:8] = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    packed[:, 8:12] = (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)
    return packed


def _low_nibbles_k(levels: np.ndarray) -> np.ndarray:
    """128 bytes per super-block: for each 64 values, value l (low nibble) and l + 32 (high)."""
    quads = levels.reshape(len(levels), 4, 2, 32) & 0xF
    return (quads[:, :, 0] | (quads[:, :, 1] << 4)).reshape(len(levels), 128)


def quantize_q4_k(weight: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Q4_K blocks (d, dmin, 12 scale bytes, 128 nibble bytes: 144 bytes per 256 weights), rows kept."""
    blocks, importance = _super_blocks(weight, imatrix)
    d, dmin, scales, levels = _scale_min_k(blocks, importance, 15)
    out = np.concatenate([_bytes(d), _bytes(dmin), scales, _low_nibbles_k(levels)], axis=1)
    return out.reshape(weight.shape[0], -1)


def quantize_q5_k(weight: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Q5_K blocks (d, dmin, 12 scale bytes, 32 high-bit bytes, 128 nibble bytes: 176 per 256)."""
    blocks, importance = _super_blocks(weight, imatrix)
    d, dmin, scales, levels = _scale_min_k(blocks, importance, 31)
    high = (levels >> 4).reshape(len(levels), 8, 32)  # bit k of qh[j] is the 5th bit of value 32k + j
    qh = (high << np.arange(8, dtype=np.uint8)[None, :, None]).sum(axis=1, dtype=np.uint8)
    out = np.concatenate([_bytes(d), _bytes(dmin), scales, qh, _low_nibbles_k(levels)], axis=1)
    return out.reshape(weight.shape[0], -1)


def quantize_q6_k(weight: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Q6_K blocks (128 low-nibble bytes, 64 high-bit bytes, 16 int8 scales, d: 210 per 256)."""
    blocks, importance = _super_blocks(weight, imatrix)
    n = len(blocks)
    sub = blocks.reshape(n * 16, 16)
    scales, levels = make_qx_quants(sub, 32, None if importance is None else importance.reshape(n * 16, 16))
    scales = scales.reshape(n, 16)
    rows = np.arange(n)
    max_scale = scales[rows, np.abs(scales).argmax(axis=1)]
    empty = np.abs(max_scale) < GROUP_MAX_EPS
    iscale = F32(-128) / np.where(empty, F32(1), max_scale)
    d = np.where(empty, np.float16(0), _f16(F32(1) / iscale))
    small = np.where(empty[:, None], 0, np.minimum(127, nearest_int(iscale[:, None] * scales))).astype(
        np.int8
    )
    step = (d.astype(F32)[:, None] * small).reshape(n * 16, 1)
    requantized = np.clip(nearest_int(sub / np.where(step == 0, 1, step)), -32, 31) + 32
    levels = np.where(step == 0, levels, requantized).reshape(n, 2, 4, 32).astype(np.uint8)
    low = levels & 0xF  # per 128 values: ql[l] = v[l] | v[l+64] << 4, ql[l+32] = v[l+32] | v[l+96] << 4
    ql = np.concatenate([low[:, :, 0] | (low[:, :, 2] << 4), low[:, :, 1] | (low[:, :, 3] << 4)], axis=2)
    qh = ((levels >> 4) << (np.arange(4, dtype=np.uint8) * 2)[None, None, :, None]).sum(
        axis=2, dtype=np.uint8
    )
    out = np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), small.view(np.uint8), _bytes(d)], axis=1)
    return out.reshape(weight.shape[0], -1)


def quantize_q5_0(weight: np.ndarray, imatrix: np.ndarray) -> np.ndarray:
    """Q5_0 blocks of 32 (d, 4 high-bit bytes, 16 nibble bytes) with the importance-weighted scale
    search; σ² here is the whole row's mean square, as quantize_row_q5_0_impl takes it."""
    rows, cols = weight.shape
    x = weight.astype(F32)
    sigma2 = (x * x).sum(axis=1, keepdims=True) / cols
    weights = imatrix.astype(F32)[None, :] * np.sqrt(sigma2 + x * x)
    scale, levels = make_qx_quants(x.reshape(-1, 32), 16, weights.reshape(-1, 32))
    levels = levels.astype(np.uint32)
    qs = ((levels[:, :16] & 0xF) | ((levels[:, 16:] & 0xF) << 4)).astype(np.uint8)
    bits = (levels >> 4) & 1
    qh = (bits << np.arange(32, dtype=np.uint32)[None, :]).sum(axis=1, dtype=np.uint32)
    out = np.concatenate([_bytes(_f16(scale)), qh.astype("<u4").reshape(-1, 1).view(np.uint8), qs], axis=1)
    return out.reshape(rows, -1)


def _bytes(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values).reshape(-1, 1).view(np.uint8)
