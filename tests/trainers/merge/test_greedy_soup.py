"""Greedy soup keeps a model only when the held-out perplexity of the soup improves.

Ingredients: two copies of the base with small independent noise (their average is closer to the
base, and on held-out text better than either), and one with large noise (worse than any soup).
The decisions and the result are checked against a perplexity computed here with plain torch.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.trainers.conftest import write_jsonl
from tests.trainers.merge.conftest import (
    Family,
    copy_support,
    fine_tune,
    load_state,
    merge_spec,
    run_merge_spec,
)


def reference_perplexity(model_dir: Path, texts: list[str]) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text)["input_ids"]
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
            nll += float(torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None]).sum().neg())
            count += len(ids) - 1
    return math.exp(nll / count)


def test_greedy_soup_keeps_only_models_that_help(family: Family, tmp_path: Path) -> None:
    from trainers.tiny import demo_instruction_rows

    ingredients = [
        fine_tune(family.base, tmp_path / "noisy-a", seed=21, scale=0.04),
        fine_tune(family.base, tmp_path / "very-noisy", seed=22, scale=0.3),
        fine_tune(family.base, tmp_path / "noisy-b", seed=23, scale=0.04),
    ]
    rows = demo_instruction_rows(12, seed=5)
    data = write_jsonl(tmp_path / "held-out.jsonl", rows)
    held_out = {
        "path": str(data),
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "format": "jsonl",
        "task": "instruction",
    }
    out = tmp_path / "soup"
    result = run_merge_spec(merge_spec("greedy_soup", ingredients, out, params={"held_out": held_out}))
    assert result.code == 0, result.error

    texts = ["\n".join(p for p in (r["instruction"], r["input"], r["output"]) if p) for r in rows]
    scores = [reference_perplexity(path, texts) for path in ingredients]
    reported = [e["value"] for e in result.of_kind("metric") if e["split"] == "ingredients"]
    assert reported == [pytest.approx(s, rel=1e-4) for s in scores]
    order = sorted(range(3), key=scores.__getitem__)
    assert order[-1] == 1  # the very noisy one is worst
    states = [load_state(p) for p in ingredients]
    pair = {k: (states[order[0]][k] + states[order[1]][k]) / 2 for k in states[0]}
    pair_dir = tmp_path / "pair"
    copy_support(family.base, pair_dir)
    save_file(pair, pair_dir / "model.safetensors", metadata={"format": "pt"})
    assert (
        reference_perplexity(pair_dir, texts) < scores[order[0]]
    )  # so the pair is kept, and the worst is not

    got = load_state(out)
    for name, tensor in pair.items():
        torch.testing.assert_close(got[name], tensor, atol=1e-6, rtol=1e-6)
    soups = [e for e in result.of_kind("metric") if e["split"] == "soup"]
    assert len(soups) == 2 and soups[1]["value"] > soups[0]["value"]
    kept = f"m{order[0]}, m{order[1]}"
    assert f"Greedy soup kept 2 of 3 models: {kept}." in (out / "README.md").read_text()
    assert not (out / ".greedy-soup").exists()


def test_greedy_soup_refuses_a_changed_held_out_file(family: Family, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "held-out.jsonl", [{"text": "the apple is near the river"}])
    held_out = {"path": str(data), "sha256": "0" * 64, "format": "jsonl", "task": "text"}
    result = run_merge_spec(
        merge_spec("greedy_soup", family.tunes[:2], tmp_path / "out", params={"held_out": held_out})
    )
    assert result.code == 2 and not result.of_kind("progress")
    assert "the file has changed since it was uploaded; upload it again" in result.error


def test_greedy_soup_of_adapters_folds_them_and_reports_its_choice(
    family: Family, adapters: dict, tmp_path: Path
) -> None:
    data = write_jsonl(
        tmp_path / "held-out.jsonl", [{"text": f"The {w} is near the river."} for w in "abcdef"]
    )
    held_out = {
        "path": str(data),
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "format": "jsonl",
        "task": "text",
    }
    out = tmp_path / "soup"
    spec = merge_spec(
        "greedy_soup", [adapters["a"], adapters["b"]], out, base=family.base, params={"held_out": held_out}
    )
    result = run_merge_spec(spec)
    assert result.code == 0, result.error
    scores = [e["value"] for e in result.of_kind("metric") if e["split"] == "ingredients"]
    (soup,) = [e["value"] for e in result.of_kind("metric") if e["split"] == "soup"]
    from tests.trainers.merge.test_lora import peft_merged

    folded = [peft_merged(family.base, adapters[k]) for k in ("a", "b")]
    best = min(range(2), key=scores.__getitem__)
    want = {k: (folded[0][k] + folded[1][k]) / 2 for k in folded[0]} if soup < scores[best] else folded[best]
    got = load_state(out)
    for name, tensor in got.items():
        torch.testing.assert_close(tensor, want[name], atol=1e-5, rtol=1e-5)
