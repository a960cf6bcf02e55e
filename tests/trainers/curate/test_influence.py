"""Influence toward a target set on the tiny model: LESS (LoRA gradients, randomly projected, against
the target's) and CoLoR-Filter (loss reduction once the model has trained on the target) both rank the
rows like the target above the others."""

from __future__ import annotations

import pytest

from trainers.spec import SpecError, parse_spec


def sums(start: int, count: int) -> list[dict]:
    return [{"instruction": f"What is {i} plus {i + 2}?", "output": f"{i} plus {i + 2} is {2 * i + 2}."}
            for i in range(start, start + count)]


def stories(count: int) -> list[dict]:
    return [{"instruction": f"Tell me about boat {i} at sea.",
             "output": f"The old boat number {i} sailed out past the harbour wall at dawn, gulls above it."}
            for i in range(count)]


@pytest.mark.parametrize(
    "influence",
    [
        {"method": "less", "train_steps": 4, "learning_rate": 1e-3, "projection_dims": 64},
        {"method": "less", "preconditioner": "sgd", "train_steps": 0, "projection_dims": 64},
        {"method": "color_filter", "train_steps": 30, "learning_rate": 3e-3},
    ],
    ids=["less-adam", "less-sgd", "color-filter"],
)
def test_the_rows_like_the_target_are_kept(curate, tiny_model_dir, influence):
    rows = sums(0, 12) + stories(12)
    tokenizer = {"name": "tiny", "path": str(tiny_model_dir)}
    result = curate(
        [rows], budget={"keep_rows": 12}, influence=influence, tokenizer=tokenizer, target_rows=sums(50, 4)
    )
    kept = [i for i, reason in enumerate(result.reasons()) if reason == "kept"]
    assert len(kept) == 12
    assert sum(i < 12 for i in kept) >= 10  # the sums, like the target, not the boat stories
    assert all(row["influence"] is not None for row in result.table)
    assert result.summary["steps"]["influence"]["method"] == influence["method"]
    dropped = [row for row in result.table if row["reason"] == "over_budget"]
    assert "less influence toward the target set" in dropped[0]["detail"]


def test_a_target_of_the_other_kind_keeps_the_other_rows(curate, tiny_model_dir):
    """The ranking follows the target, not a liking for short or long rows."""
    tokenizer = {"name": "tiny", "path": str(tiny_model_dir)}
    influence = {"method": "less", "preconditioner": "sgd", "train_steps": 0, "projection_dims": 64}
    result = curate(
        [sums(0, 12) + stories(12)],
        budget={"keep_rows": 12},
        influence=influence,
        tokenizer=tokenizer,
        target_rows=stories(40)[-4:],
    )
    kept = [i for i, reason in enumerate(result.reasons()) if reason == "kept"]
    assert sum(i >= 12 for i in kept) >= 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target_set": None}, "target_set: the influence step needs the rows to get good at"),
        ({"tokenizer": None}, "tokenizer: the influence step needs the model the data is for"),
        ({"diversity": {}}, "choose it or diversity, not both"),
        ({"influence": None}, "target_set: only the influence step reads it"),
        ({"target_task": "text"}, "target_set: holds text data but the datasets hold instruction"),
        ({"influence": {"method": "color_filter", "train_steps": 0}}, "give train_steps ≥ 1"),
    ],
)
def test_the_spec_refuses_an_influence_step_that_cannot_run(change, message):
    ref = {"path": "/tmp/in.jsonl", "sha256": "0" * 64, "format": "jsonl", "task": "instruction"}
    spec = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": "/tmp/out",
        "datasets": [ref],
        "target_set": {**ref, "task": change.pop("target_task", "instruction")},
        "tokenizer": {"name": "tiny", "path": "/tmp/tiny"},
        "budget": {"keep_percent": 30},
        "influence": {},
        **change,
    }
    with pytest.raises(SpecError, match=message):
        parse_spec(spec)
