"""A merge job end to end through the trainer CLI: events, files, provenance, and a model that generates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from tests.trainers.merge.conftest import Family, load_state, merge_spec, run_cli
from trainers.merge.stream import PlannedTensor, ShardWriter


def test_a_merge_job_reports_writes_provenance_and_loads(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "out"
    models = [(family.tunes[0], 0.7), (adapters["a"], 0.5)]  # a fine-tune and an adapter folded on the fly
    spec = merge_spec("ties", models, out, base=family.base, params={"density": 0.6}, dtype="bfloat16")
    run = run_cli(spec, tmp_path)
    assert run.code == 0, run.stderr[-3000:]

    kinds = [e["kind"] for e in run.events]
    tensors = len(load_state(family.base))
    assert kinds[0] == "started" and run.events[0]["total_steps"] == tensors
    assert kinds.count("progress") == tensors and kinds[-2:] == ["artifact", "finished"]
    assert [e["step"] for e in run.events if e["kind"] == "progress"] == list(range(1, tensors + 1))
    artifact = run.events[-2]
    assert artifact["name"] == artifact["artifact_kind"] == "model" and artifact["location"] == str(out)
    assert artifact["sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    assert artifact["bytes"] == sum(f.stat().st_size for f in out.iterdir())
    assert run.events[-1]["status"] == "succeeded"

    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert all(t.dtype == torch.bfloat16 for t in load_state(out).values())
    card = (out / "README.md").read_text()
    for expected in (
        "# TIES merge of m0, m1",
        "| 1 | m1 | LoRA adapter | 0.5 |",
        "- density: 0.6",
        f"Base model: base (`{family.base}`)",
        "https://arxiv.org/abs/2306.01708",
        "by job 3, attempt 1",
    ):
        assert expected in card
    provenance = json.loads((out / "hone_merge.json").read_text())
    assert provenance["params"] == {"density": 0.6, "normalize": True, "scaling": 1.0}
    assert [m["path"] for m in provenance["models"]] == [str(family.tunes[0]), str(adapters["a"])]

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    prompt = tokenizer("The apple is", return_tensors="pt")
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] == prompt["input_ids"].shape[1] + 5


def test_transformers_loads_sharded_output(family: Family, tmp_path: Path) -> None:
    """The writer's shards and index, as transformers reads them, give the same model."""
    from transformers import AutoModelForCausalLM

    from tests.trainers.merge.conftest import copy_support

    state = load_state(family.tunes[0])
    planned = [PlannedTensor(name, "F32", tuple(t.shape)) for name, t in state.items()]
    writer = ShardWriter(tmp_path, planned, shard_bytes=150_000)
    for name, tensor in state.items():
        writer.write(name, tensor)
    assert len(writer.close()) > 2
    copy_support(family.tunes[0], tmp_path)
    ids = torch.tensor([[1, 5, 9, 14]])
    want = AutoModelForCausalLM.from_pretrained(family.tunes[0])(input_ids=ids).logits
    got = AutoModelForCausalLM.from_pretrained(tmp_path)(input_ids=ids).logits
    torch.testing.assert_close(got, want)
