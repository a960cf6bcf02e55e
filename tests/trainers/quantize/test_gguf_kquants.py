"""The GGUF k-quants: block bytes that gguf-py's dequantizer reads back, importance weighting that
does what it is for, and llama.cpp's per-tensor type mix."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from trainers.quantize import kquants
from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.gguf_export import plan_tensors, write_gguf
from trainers.quantize.gguf_types import tensor_type, use_more_bits
from trainers.quantize.imatrix import collect_imatrix

T = gguf.GGMLQuantizationType
ROUTINES = [(kquants.quantize_q4_k, T.Q4_K), (kquants.quantize_q5_k, T.Q5_K), (kquants.quantize_q6_k, T.Q6_K)]


def trained_like(rows: int = 32, cols: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed weights and a skewed importance per column, as trained layers have."""
    rng = np.random.default_rng(0)
    weight = (rng.standard_t(4, (rows, cols)) * 0.02).astype(np.float32)
    importance = rng.gamma(0.5, 2.0, cols).astype(np.float32)
    return weight, importance


def relative_error(weight: np.ndarray, decoded: np.ndarray, importance: np.ndarray) -> float:
    return float((((decoded - weight) ** 2) * importance).sum() / ((weight**2) * importance).sum())


@pytest.mark.parametrize(("routine", "qtype"), ROUTINES)
def test_k_quant_blocks_have_ggml_layout_and_read_back_close(routine, qtype):
    weight, importance = trained_like()
    for imatrix in (None, importance):
        blocks = routine(weight, imatrix)
        assert blocks.dtype == np.uint8
        assert blocks.shape == gguf.quant_shape_to_byte_shape(weight.shape, qtype)
        decoded = gguf.quants.dequantize(blocks, qtype)
        bound = {T.Q4_K: 1e-2, T.Q5_K: 3e-3, T.Q6_K: 1e-3}[qtype]
        assert relative_error(weight, decoded, np.ones_like(importance)) < bound


@pytest.mark.parametrize(("routine", "qtype"), ROUTINES)
def test_the_importance_matrix_lowers_the_error_where_the_data_leans(routine, qtype):
    weight, importance = trained_like()
    plain = gguf.quants.dequantize(routine(weight, None), qtype)
    weighted = gguf.quants.dequantize(routine(weight, importance), qtype)
    assert relative_error(weight, weighted, importance) < 0.95 * relative_error(weight, plain, importance)


def test_q5_0_with_importance_reads_back_and_beats_the_reference_where_it_matters():
    weight, importance = trained_like(cols=576)
    decoded = gguf.quants.dequantize(kquants.quantize_q5_0(weight, importance), T.Q5_0)
    reference = gguf.quants.dequantize(gguf.quants.quantize(weight, T.Q5_0), T.Q5_0)
    assert relative_error(weight, decoded, importance) < relative_error(weight, reference, importance)


def test_an_all_zero_block_stays_zero():
    zeros = np.zeros((2, 256), dtype=np.float32)
    for routine, qtype in ROUTINES:
        assert not gguf.quants.dequantize(routine(zeros, np.ones(256, np.float32)), qtype).any()


def test_the_m_mixes_follow_llama_cpp():
    assert [use_more_bits(i, 32) for i in range(8)] == [True, True, True, True, False, False, True, False]
    assert tensor_type("Q4_K_M", "blk.0.attn_v.weight", (512, 512), 32, head=False) == T.Q6_K
    assert tensor_type("Q4_K_M", "blk.4.attn_v.weight", (512, 512), 32, head=False) == T.Q4_K
    assert tensor_type("Q5_K_M", "blk.31.ffn_down.weight", (512, 1024), 32, head=False) == T.Q6_K
    assert tensor_type("Q5_K_M", "blk.4.attn_q.weight", (512, 512), 32, head=False) == T.Q5_K
    assert tensor_type("Q4_K_M", "output.weight", (1000, 512), 32, head=True) == T.Q6_K
    assert tensor_type("Q6_K", "blk.4.attn_q.weight", (512, 512), 32, head=False) == T.Q6_K
    # rows that do not split into 256: llama.cpp's fallbacks (SmolLM2's hidden size is 576)
    assert tensor_type("Q4_K_M", "blk.4.attn_q.weight", (576, 576), 30, head=False) == T.Q5_0
    assert tensor_type("Q5_K_M", "blk.4.attn_q.weight", (576, 576), 30, head=False) == T.Q5_1
    assert tensor_type("Q6_K", "blk.4.attn_q.weight", (576, 576), 30, head=False) == T.Q8_0
    assert tensor_type("Q4_K_M", "output.weight", (1000, 576), 30, head=True) == T.Q8_0
    assert tensor_type("Q4_K_M", "blk.0.attn_norm.weight", (576,), 30, head=False) == T.F32


def test_the_imatrix_is_the_mean_squared_input_of_each_column(trained_model_dir: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(trained_model_dir).eval()
    windows = [torch.randint(3, 100, (1, 24), generator=torch.Generator().manual_seed(i)) for i in range(3)]
    imatrix = collect_imatrix(model, windows)
    seen: list[torch.Tensor] = []
    layer = model.model.layers[0].mlp.down_proj
    handle = layer.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].reshape(-1, args[0].shape[-1]))
    )
    with torch.no_grad():
        for window in windows:
            model(input_ids=window)
    handle.remove()
    expected = (torch.cat(seen) ** 2).mean(dim=0).numpy()
    np.testing.assert_allclose(imatrix["model.layers.0.mlp.down_proj.weight"], expected, rtol=1e-5)
    q, k = (
        imatrix["model.layers.0.self_attn.q_proj.weight"],
        imatrix["model.layers.0.self_attn.k_proj.weight"],
    )
    np.testing.assert_array_equal(q, k)  # one input, one set of values
    assert "model.embed_tokens.weight" not in imatrix  # untied: a lookup, not a matmul


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory: pytest.TempPathFactory, toy_corpus: list[str]) -> Path:
    """Untrained, but with rows of 256 columns, so the k-quant types themselves are written."""
    from trainers.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("wide"), corpus=toy_corpus, hidden_size=256, layers=2)


@pytest.mark.parametrize("file_type", ["Q4_K_M", "Q5_K_M", "Q6_K"])
def test_k_quant_files_hold_the_planned_types_and_read_back(wide_model_dir: Path, tmp_path: Path, file_type):
    checkpoint = Checkpoint(wide_model_dir)
    path = write_gguf(checkpoint, tmp_path / f"m-{file_type}.gguf", file_type, "trained")
    reader = gguf.GGUFReader(path)
    stored = {t.name: t for t in reader.tensors}
    plan = plan_tensors(checkpoint, file_type)
    types = {item.name: item.qtype for item in plan}
    base = {"Q4_K_M": T.Q4_K, "Q5_K_M": T.Q5_K, "Q6_K": T.Q6_K}[file_type]
    assert types["blk.0.attn_q.weight"] == base
    assert types["output.weight"] == T.Q6_K
    if file_type != "Q6_K":  # 2 layers: use_more_bits picks layer 1
        assert (types["blk.0.attn_v.weight"], types["blk.1.attn_v.weight"]) == (base, T.Q6_K)
    for item in plan:
        assert stored[item.name].tensor_type == item.qtype
        decoded = gguf.quants.dequantize(np.asarray(stored[item.name].data), item.qtype)
        original = checkpoint.load(item.source).float().numpy()
        if item.name.endswith(("attn_q.weight", "attn_k.weight")):
            continue  # rows permuted for llama.cpp's rotary layout
        scale = max(float(np.abs(original).max()), 1e-6)
        assert np.abs(decoded.reshape(original.shape) - original).max() < 0.2 * scale
