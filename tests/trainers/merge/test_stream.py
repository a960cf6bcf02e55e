"""Streaming safetensors: what the writer makes, the safetensors library and transformers read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.trainers.merge.conftest import Family, load_state
from trainers.merge.stream import PlannedTensor, ShardWriter, WeightReader, WeightsError, weight_files

TENSORS = {
    "a.weight": torch.randn(300, 200),  # 240 000 bytes
    "b.weight": torch.randn(100, 50).to(torch.bfloat16),
    "c.ids": torch.arange(7),
    "d.weight": torch.randn(400, 300),  # 480 000 bytes: more than a shard on its own
    "e.bias": torch.randn(3).to(torch.float16),
}


def write_all(out: Path, shard_bytes: int) -> list[Path]:
    planned = [
        PlannedTensor(
            n,
            {"torch.float32": "F32", "torch.bfloat16": "BF16", "torch.int64": "I64", "torch.float16": "F16"}[
                str(t.dtype)
            ],
            tuple(t.shape),
        )
        for n, t in TENSORS.items()
    ]
    writer = ShardWriter(out, planned, shard_bytes)
    for name in reversed(TENSORS):  # any order: each tensor has its planned place
        writer.write(name, TENSORS[name])
    return writer.close()


def test_shards_and_index_read_back_with_the_safetensors_library(tmp_path: Path) -> None:
    files = write_all(tmp_path, shard_bytes=300_000)
    assert [f.name for f in files] == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shard_of = index["weight_map"]
    assert (
        shard_of["a.weight"]
        == shard_of["b.weight"]
        == shard_of["c.ids"]
        == "model-00001-of-00003.safetensors"
    )
    assert shard_of["d.weight"] == "model-00002-of-00003.safetensors"  # bigger than a shard: one of its own
    assert shard_of["e.bias"] == "model-00003-of-00003.safetensors"
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in TENSORS.values())
    read = {}
    for path in files:
        with safe_open(path, framework="pt") as f:
            assert f.metadata() == {"format": "pt"}
            read.update({k: f.get_tensor(k) for k in f.keys()})  # noqa: SIM118 (safe_open is not a dict)
    assert read.keys() == TENSORS.keys()
    for name, tensor in TENSORS.items():
        assert read[name].dtype == tensor.dtype and torch.equal(read[name], tensor)
    assert not list(tmp_path.glob("*.partial"))


def test_one_shard_has_no_index(tmp_path: Path) -> None:
    assert [f.name for f in write_all(tmp_path, shard_bytes=10**9)] == ["model.safetensors"]
    assert not (tmp_path / "model.safetensors.index.json").exists()


def test_unfinished_output_is_never_left_looking_finished(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, [PlannedTensor("x", "F32", (4,)), PlannedTensor("y", "F32", (4,))], 10**6)
    writer.write("x", torch.ones(4))
    with pytest.raises(RuntimeError, match="1 planned tensors were never written, e.g. y"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_a_tensor_not_as_planned_is_refused(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, [PlannedTensor("x", "F32", (4,))], 10**6)
    with pytest.raises(RuntimeError, match="x: got BF16"):
        writer.write("x", torch.ones(4, dtype=torch.bfloat16))
    writer.abort()


def test_the_reader_reads_sharded_models_saved_by_transformers(family: Family, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(family.tunes[0]).save_pretrained(tmp_path, max_shard_size="200KB")
    files = weight_files(tmp_path)
    assert len(files) > 1
    reader = WeightReader(files)
    want = load_state(family.tunes[0])
    assert reader.tensors.keys() == want.keys()
    for name, tensor in want.items():
        assert torch.equal(reader.read(name), tensor)
    reader.close()


def test_a_cut_short_file_is_refused_when_read(tmp_path: Path) -> None:
    write_all(tmp_path, shard_bytes=10**9)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="truncated"):
        WeightReader([path])
