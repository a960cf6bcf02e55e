"""The judge: a Hone-trained judge model ranks known better answers over worse ones, with position
swapping on, through the evaluate job; its pull towards answer A is measured and cancelled."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, write_jsonl
from tests.trainers.evaluate.test_evaluate_job import evaluate_spec, events_of, ref, refused
from tests.trainers.test_forgetting import train
from trainers.evaluation.judge import INSTRUCTION
from trainers.tiny import _WORDS, default_corpus

RUBRIC = "A better answer says something about what was asked; not knowing is worse."
REFUSALS = ("I do not know.", "No idea, sorry.", "I cannot say.")
TRAIN_WORDS, HELD_OUT_WORDS = _WORDS[:14], _WORDS[14:]


def pair(words: list[str], rng: random.Random) -> dict:
    """A question with a known better answer (about it) and a worse one (a refusal)."""
    a, b = rng.sample(words, 2)
    return {"prompt": f"Tell me about the {a}.", "chosen": f"The {a} is next to the {b}.",
            "rejected": rng.choice(REFUSALS)}


def judge_rows(n: int, rng: random.Random) -> list[dict]:
    """Judge prompts answered A or B, with the better answer first three times in four: a judge
    trained on them learns a pull towards A as well as the rubric (the bias swapping cancels)."""
    rows = []
    for _ in range(n):
        p, first_is_better = pair(TRAIN_WORDS, rng), rng.random() < 0.75
        first, second = (p["chosen"], p["rejected"]) if first_is_better else (p["rejected"], p["chosen"])
        prompt = INSTRUCTION.format(rubric=RUBRIC, question=p["prompt"], first=first, second=second)
        rows.append({"instruction": prompt, "input": "", "output": "A" if first_is_better else "B"})
    return rows


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, trained by Hone (full fine-tune, sft) to judge: a real model, the real path."""
    from trainers.tiny import build_tiny_llama

    root = tmp_path_factory.mktemp("judge")
    rows = judge_rows(600, random.Random(0))
    tiny = build_tiny_llama(root / "tiny", corpus=default_corpus() + [r["instruction"] for r in rows[:200]])
    data = write_jsonl(root / "judge.jsonl", rows)
    spec = make_spec(tiny, data, root / "out", method="full",
                     training={"epochs": 4, "batch_size": 16, "learning_rate": 3e-3, "max_seq_length": 160,
                               "checkpoints_per_run": 0})
    (artifact,) = [e for e in train(spec) if e["kind"] == "artifact"]
    return Path(artifact["location"])


def test_a_judge_ranks_known_better_answers_first_with_positions_swapped(
    judge_dir: Path, tiny_model_dir: Path, tmp_path: Path
):
    held_out = [pair(HELD_OUT_WORDS, random.Random(1000 + i)) for i in range(12)]  # words it never saw
    labelled = write_jsonl(tmp_path / "pairs.jsonl", held_out)
    lm = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    judge = {"model": {"model": {"name": "judge", "path": str(judge_dir)}}, "rubric": RUBRIC,
             "labelled": ref(labelled, "preference")}
    spec = evaluate_spec(lm, lm, tmp_path / "out", prompts=["Tell me about the rocket."],
                         max_new_tokens=4, judge=judge)
    code, events = events_of(spec)
    assert code == 0, events[-1]
    report = json.loads((tmp_path / "out" / "report.json").read_text())["judge"]
    assert report["swap_positions"] is True
    found = report["labelled"]
    assert found["pairs"] == 12 and found["agreement"] == 1.0  # every better answer ranked first
    assert all(margin > 0 for margin in found["margins"])
    assert found["position_bias"] > 0  # it learnt to lean towards A; the swapped average cancels it
    # The same two models answer identically: the judge's verdict is a coin it cannot tilt either way.
    assert [v["winner"] for v in report["verdicts"]] in (["base"], ["candidate"])
    metrics = {(e["name"], e["step"]) for e in events if e["kind"] == "metric"}
    assert {("judge_win_rate", 0), ("judge_win_rate", 1), ("judge_agreement", 1)} <= metrics


def test_a_judge_that_cannot_run_is_refused_before_anything_loads(tiny_model_dir: Path, tmp_path: Path):
    lm = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    judge = {"model": {"model": {"name": "gone", "path": str(tmp_path / "gone")}}, "rubric": "r"}
    assert "judge.model.path" in refused(evaluate_spec(lm, lm, tmp_path / "o", judge=judge))
    no_work = {"model": lm, "rubric": "r"}
    assert "give prompts" in refused(evaluate_spec(lm, lm, tmp_path / "o", prompts=[], judge=no_work))
