"""A gated merge measures the model it is compared with and the merged one with the evaluation code,
after the merge; a gate that cannot be measured is refused before anything is merged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.trainers.merge.conftest import Family, merge_spec, run_merge_spec
from trainers.evaluation.metrics import score_texts
from trainers.evaluation.models import load_causal_lm
from trainers.forgetting import retention_perplexity

GOLDEN_TEXTS = ["The apple is red and the sky is blue.", "A cat sat on the mat by the door.",
                "Numbers such as one, two and three are small."]


def _golden(tmp_path: Path) -> dict:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in GOLDEN_TEXTS), encoding="utf-8")
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "format": "jsonl", "task": "text"}


def _gated(family: Family, out: Path, golden: dict | None, retention: bool) -> dict:
    spec = merge_spec("linear", [family.tunes[0], family.tunes[1]], out)
    spec["gate_evaluation"] = {"reference": {"model": {"name": "tune-0", "path": str(family.tunes[0])}},
                               "dataset": golden, "retention": retention}
    return spec


def _perplexity(model_dir: Path) -> tuple[float, float, float]:
    """Golden-set perplexity and mean NLL, and retention perplexity, computed here directly."""
    model, tokenizer = load_causal_lm(model_dir)
    total = score_texts(model, tokenizer, GOLDEN_TEXTS, max_length=512, stride=256)
    return total.perplexity, total.nll / total.tokens, retention_perplexity(model, tokenizer)


def test_a_gated_merge_reports_the_reference_and_the_merged_model(family: Family, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = run_merge_spec(_gated(family, out, _golden(tmp_path), retention=True))
    assert run.code == 0, run.error
    kinds = [e["kind"] for e in run.events]
    assert kinds.index("artifact") < kinds.index("metric") and kinds[-1] == "finished"
    found = {(m["split"], m["name"], m["step"]): m["value"] for m in run.of_kind("metric")}
    assert set(found) == {(split, name, step) for split, name in
                          (("eval", "perplexity"), ("eval", "loss"), ("retention", "perplexity"))
                          for step in (0, 1)}
    for step, model_dir in ((0, family.tunes[0]), (1, out)):
        perplexity, loss, retention = _perplexity(model_dir)
        assert found[("eval", "perplexity", step)] == pytest.approx(perplexity, rel=1e-5)
        assert found[("eval", "loss", step)] == pytest.approx(loss, rel=1e-5)
        assert found[("retention", "perplexity", step)] == pytest.approx(retention, rel=1e-5)
    assert found[("eval", "perplexity", 0)] != pytest.approx(found[("eval", "perplexity", 1)], rel=1e-6)


def test_a_retention_only_gate_reads_no_dataset(family: Family, tmp_path: Path) -> None:
    run = run_merge_spec(_gated(family, tmp_path / "out", None, retention=True))
    assert run.code == 0, run.error
    assert {(m["split"], m["name"]) for m in run.of_kind("metric")} == {("retention", "perplexity")}


def test_a_changed_golden_set_is_refused_before_the_merge(family: Family, tmp_path: Path) -> None:
    golden = _golden(tmp_path)
    Path(golden["path"]).write_text('{"text": "changed"}\n', encoding="utf-8")
    out = tmp_path / "out"
    run = run_merge_spec(_gated(family, out, golden, retention=False))
    assert run.code == 2 and "has changed since it was uploaded" in run.error
    assert not out.exists() and not run.of_kind("metric")
