"""Fit: each response's loss under the base model (the loss training sees), the GRAPE rule (the
likeliest response per prompt) and the band that drops the easiest and hardest rows."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from trainers.curate.fit import FitScorer
from trainers.spec import ModelRef, SpecError, parse_spec


def test_the_loss_is_the_mean_over_response_tokens_that_transformers_computes(tiny_model_dir):
    scorer = FitScorer(ModelRef(name="tiny", path=str(tiny_model_dir)), max_tokens=256)
    rows = [
        {"instruction": "Name a colour.", "output": "Blue."},
        {
            "instruction": "Say a longer thing about the sea and ships.",
            "output": "Ships sail on the sea at dawn.",
        },
    ]
    losses = scorer.losses(rows, "instruction")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    for row, loss in zip(rows, losses, strict=True):
        example = scorer.example(row, "instruction")
        with torch.inference_mode():
            expected = model(
                input_ids=torch.tensor([example["input_ids"]]), labels=torch.tensor([example["labels"]])
            ).loss
        assert loss == pytest.approx(float(expected), rel=1e-4)
    # the two rows were scored in one padded batch, each reference above alone: padding is masked


def test_grape_keeps_the_likeliest_answer_per_prompt_and_the_band_drops_both_ends(curate, tiny_model_dir):
    rows = [
        {"instruction": f"Question number {i} about rivers?", "output": f"River answer {i} flows."}
        for i in range(20)
    ]
    rows += [{"instruction": "Question number 3 about rivers?", "output": "zq xv kk jj pp qq zz ww vv"}]
    result = curate(
        [rows],
        fit={"drop_easiest_percent": 10, "drop_hardest_percent": 10},
        tokenizer={"name": "tiny", "path": str(tiny_model_dir)},
    )
    table = result.table
    three = [table[3], table[20]]
    loser = 20 if three[1]["fit_loss"] > three[0]["fit_loss"] else 3
    assert table[loser]["reason"] == "worse_fit" and "datasets[0] row" in table[loser]["detail"]
    banded = [row for i, row in enumerate(table) if i != loser]
    losses = sorted(row["fit_loss"] for row in banded)
    easy = [row for row in banded if row["reason"] == "too_easy"]
    far = [row for row in banded if row["reason"] == "too_far"]
    assert len(easy) == len(far) == 2  # 10 % of the 20 left at each end
    assert {row["fit_loss"] for row in easy} == set(losses[:2])
    assert {row["fit_loss"] for row in far} == set(losses[-2:])
    assert all(not math.isnan(row["fit_loss"]) for row in table)
    assert result.summary["steps"]["fit"]["best_response_per_prompt"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fit": {}}, "fit: scores responses by the loss of the model they are for"),
        (
            {
                "fit": {},
                "tokenizer": {"name": "m", "path": "/m"},
                "datasets": [{"path": "/d", "sha256": "0" * 64, "format": "jsonl", "task": "classification"}],
            },
            "fit: classification rows have no response to score",
        ),
        ({"fit": {"drop_easiest_percent": 60}}, "fit.drop_easiest_percent"),
    ],
)
def test_the_spec_refuses_a_fit_step_that_cannot_run(change, message):
    spec = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": "/o",
        "budget": {"keep_rows": 3},
        "datasets": [{"path": "/d", "sha256": "0" * 64, "format": "jsonl", "task": "instruction"}],
    }
    with pytest.raises(SpecError, match=message):
        parse_spec(spec | change)
