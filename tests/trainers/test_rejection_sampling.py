"""rejection_sampling on the fixture's own checkable task (see test_grpo.py): keep the model's verified
answers, sample more for the prompts it gets wrong, fine-tune on what was kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, write_jsonl
from tests.trainers.test_grpo import _points, _train, first_number_model  # noqa: F401
from trainers.data import inspect_file
from trainers.objectives.grpo_data import Task
from trainers.objectives.rejection_params import RejectionParams
from trainers.objectives.rejection_sampling import sample_verified
from trainers.rewards.exact_match import normalise
from trainers.rewards.registry import RewardChoice
from trainers.tiny import larger_number_rows

PARAMS = {"keep_per_prompt": 2, "max_samples": 8, "samples_per_round": 4, "max_completion_length": 4}
TRAINING = {"learning_rate": 3e-3, "epochs": 3, "batch_size": 16, "max_seq_length": 64, "evals_per_run": 2,
            "checkpoints_per_run": 0, "eval_fraction": 0.15}  # fmt: skip


@pytest.fixture(scope="module")
def run(first_number_model: Path, tmp_path_factory: pytest.TempPathFactory) -> list:  # noqa: F811
    out = tmp_path_factory.mktemp("rs")
    data = write_jsonl(out / "larger.jsonl", larger_number_rows(300, seed=2))
    spec = make_spec(first_number_model, data, out / "out", objective="rejection_sampling", method="full",
                     training=TRAINING, rejection_sampling=PARAMS)  # fmt: skip
    return _train(spec)


def test_held_out_accuracy_rises_under_rejection_sampling(run: list[dict]) -> None:
    accuracy = _points(run, "accuracy", "eval")
    first, last = accuracy[0], accuracy[max(accuracy)]
    assert 0.25 <= first <= 0.65 and last >= 0.8 and last - first >= 0.25, accuracy


def test_the_kept_answers_are_a_chat_dataset_of_verified_answers(run: list[dict]) -> None:
    artifact = next(e for e in run if e["kind"] == "artifact" and e["artifact_kind"] == "dataset")
    path = Path(artifact["location"])
    report = inspect_file(path)
    assert report.ok and report.task == "chat" and report.row_count > 0
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        question, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        a, b = (int(x) for x in question.removeprefix("Which is larger: ").rstrip("?").split(" or "))
        assert normalise(answer) == str(max(a, b)), row  # only verified answers are kept
    started = next(e for e in run if e["kind"] == "started")
    assert 0 < len(rows) <= PARAMS["keep_per_prompt"] * 255  # 255 training prompts (300, 15% held out)
    assert started["total_steps"] == 3 * -(-len(rows) // 16)  # SFT on the kept rows: 3 epochs of 16
    assert any(e["kind"] == "artifact" and e["artifact_kind"] == "model" for e in run)


def test_hard_prompts_get_more_samples_up_to_the_cap(first_number_model: Path) -> None:  # noqa: F811
    from trainers.spec import ModelRef
    from trainers.train import load_base_model

    tokenizer, model, _ = load_base_model(ModelRef(name="m", path=str(first_number_model)))
    prompt = [{"role": "user", "content": "Which is larger: 8 or 3?"}]
    easy, never = Task(prompt, "8"), Task(prompt, "3")  # the model answers with the first number
    params = RejectionParams(keep_per_prompt=2, max_samples=12, samples_per_round=4,
                             max_completion_length=4, rewards=[RewardChoice(name="exact_match")])  # fmt: skip
    found = sample_verified(model, tokenizer, [easy, never], params, seed=0)
    assert found.verified == [2, 0]
    assert found.drawn == [4, 12]  # the easy prompt stopped after one round; the other went to the cap
    assert [row["messages"][-1]["content"] for row in found.kept] == ["8"]  # each distinct answer once
