"""Streaming: a merge of models far larger than a fixed memory budget stays within that budget.

Three ~440 MB models (1.3 GB of inputs) are merged by the trainer CLI in a subprocess; its peak
RSS (VmHWM) above that of the same merge on pico models (python, torch and the trainer itself)
must stay under BUDGET (150 MiB), less than half the size of one input. Peak memory is then a few
of the largest tensors (16 MiB here), not the models.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.trainers.merge.conftest import Family, merge_spec, run_cli

MIB = 1024 * 1024
BUDGET = 150 * MIB
SHAPE = {"hidden": 1024, "intermediate": 2816, "vocab": 4096, "layers": 8}


def big_state() -> dict[str, torch.Tensor]:
    h, i, v = SHAPE["hidden"], SHAPE["intermediate"], SHAPE["vocab"]
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for layer in range(SHAPE["layers"]):
        p = f"model.layers.{layer}."
        shapes |= {p + f"self_attn.{n}_proj.weight": (h, h) for n in "qkvo"}
        shapes |= {
            p + "mlp.gate_proj.weight": (i, h),
            p + "mlp.up_proj.weight": (i, h),
            p + "mlp.down_proj.weight": (h, i),
        }
        shapes |= {p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,)}
    generator = torch.Generator().manual_seed(0)
    return {name: torch.randn(shape, generator=generator) * 0.02 for name, shape in shapes.items()}


@pytest.fixture(scope="module")
def big_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three ~440 MB models: one random state, scaled differently (cheap to make, distinct to merge)."""
    from transformers import LlamaConfig

    root = tmp_path_factory.mktemp("big")
    config = LlamaConfig(
        hidden_size=SHAPE["hidden"],
        intermediate_size=SHAPE["intermediate"],
        vocab_size=SHAPE["vocab"],
        num_hidden_layers=SHAPE["layers"],
        num_attention_heads=16,
        tie_word_embeddings=False,
    )
    state, paths = big_state(), []
    for n in range(3):
        path = root / f"big-{n}"
        path.mkdir()
        config.save_pretrained(path)
        save_file(
            {k: v * (1 + n) for k, v in state.items()}, path / "model.safetensors", metadata={"format": "pt"}
        )
        paths.append(path)
    return paths


def test_a_merge_much_larger_than_the_budget_stays_within_it(
    family: Family, big_models: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "big").mkdir()
    small = run_cli(merge_spec("linear", family.tunes, tmp_path / "small" / "out"), tmp_path / "small")
    spec = merge_spec("linear", big_models, tmp_path / "big" / "out", shard_size_mb=100)
    big = run_cli(spec, tmp_path / "big")
    assert small.code == 0 and big.code == 0, big.stderr[-2000:]

    inputs = sum((p / "model.safetensors").stat().st_size for p in big_models)
    assert min((p / "model.safetensors").stat().st_size for p in big_models) > 2.5 * BUDGET
    growth = big.peak_rss - small.peak_rss
    print(
        f"\ninputs {inputs / MIB:.0f} MiB; peak RSS {big.peak_rss / MIB:.0f} MiB "
        f"(pico merge {small.peak_rss / MIB:.0f} MiB, +{growth / MIB:.0f} MiB); {big.seconds:.1f} s"
    )
    assert growth < BUDGET

    out = tmp_path / "big" / "out"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 5  # 440 MB in shards of at most 100 MiB
    assert (
        big.events[-2]["sha256"]
        == hashlib.sha256((out / "model.safetensors.index.json").read_bytes()).hexdigest()
    )
    for name in ("model.embed_tokens.weight", "model.layers.7.mlp.down_proj.weight"):
        with safe_open(out / index["weight_map"][name], framework="pt") as f:
            got = f.get_tensor(name)
        parts = []
        for path in big_models:
            with safe_open(path / "model.safetensors", framework="pt") as f:
                parts.append(f.get_tensor(name))
        torch.testing.assert_close(got, sum(parts) / 3)
