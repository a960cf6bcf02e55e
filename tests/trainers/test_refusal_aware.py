"""refusal_aware (R-Tuning) on the fixture's own checkable task (see test_grpo.py): the warm model
answers with the first number, so it is right where the first is the larger; the data it makes keeps
those answers and says "I am not sure." to the rest, and after SFT on it the model refuses where it
would have been wrong. The reward (exact match against the fixture's checker) is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, write_jsonl
from tests.trainers.test_grpo import _points, _train, first_number_model  # noqa: F401
from trainers.data import DataError, inspect_file
from trainers.objectives.grpo_data import Task
from trainers.objectives.refusal_aware import judge
from trainers.objectives.refusal_params import RefusalParams
from trainers.tiny import larger_number_rows

REFUSAL = "I am not sure."
PARAMS = {"max_completion_length": 12, "refusal": REFUSAL}
TRAINING = {"learning_rate": 3e-3, "epochs": 6, "batch_size": 16, "max_seq_length": 64, "evals_per_run": 2,
            "checkpoints_per_run": 0, "eval_fraction": 0.15}  # fmt: skip


def _spec(model: Path, rows: list[dict], out: Path) -> dict:
    data = write_jsonl(out / "larger.jsonl", rows)
    return make_spec(model, data, out / "out", objective="refusal_aware", method="full", training=TRAINING,
                     refusal_aware=PARAMS)  # fmt: skip


@pytest.fixture(scope="module")
def run(first_number_model: Path, tmp_path_factory: pytest.TempPathFactory) -> list:  # noqa: F811
    return _train(_spec(first_number_model, larger_number_rows(300, seed=2), tmp_path_factory.mktemp("ra")))


def _numbers(question: str) -> tuple[int, int]:
    a, b = question.removeprefix("Which is larger: ").rstrip("?").split(" or ")
    return int(a), int(b)


def test_its_data_keeps_what_the_model_knew_and_refuses_the_rest(run: list[dict]) -> None:
    artifact = next(e for e in run if e["kind"] == "artifact" and e["artifact_kind"] == "dataset")
    assert artifact["name"] == "refusal-aware"
    path = Path(artifact["location"])
    report = inspect_file(path)
    assert report.ok and report.task == "chat" and report.row_count == 255  # every training question
    replies = {"right": 0, "refused": 0}
    for line in path.read_text().splitlines():
        question, reply = (m["content"] for m in json.loads(line)["messages"])
        a, b = _numbers(question)
        if reply == REFUSAL:
            replies["refused"] += 1
        else:
            assert reply == str(max(a, b)), (question, reply)  # only verified answers are kept
            replies["right"] += 1
    # The warm model answers with the first number: right about half the time, so both kinds are there.
    assert replies["right"] >= 80 and replies["refused"] >= 80, replies


def test_after_training_it_refuses_where_it_would_be_wrong(run: list[dict]) -> None:
    refused, answered = _points(run, "refusal_rate", "eval"), _points(run, "answered_accuracy", "eval")
    accuracy = _points(run, "accuracy", "eval")
    first, last = min(refused), max(refused)
    assert refused[first] == 0.0 and answered[first] == accuracy[first] < 0.7  # it never refused at first
    assert 0.3 <= refused[last] <= 0.7, refused  # about the half it gets wrong
    # When it answers, it is right clearly more often than it was (45 held-out questions).
    assert answered[last] >= 0.75 and answered[last] - answered[first] >= 0.25, answered
    assert any(e["kind"] == "artifact" and e["artifact_kind"] == "model" for e in run)


def test_a_model_that_knows_nothing_is_refused_with_the_reason(
    first_number_model: Path, tmp_path: Path  # noqa: F811
) -> None:
    rows = [{"prompt": f"Which is larger: {a} or {a + 1}?", "answer": "ten"} for a in range(8)] * 3
    with pytest.raises(DataError, match=r"got none of the \d+ questions right"):
        _train(_spec(first_number_model, rows, tmp_path))


def test_judge_keeps_verified_answers_and_refuses_the_rest() -> None:
    prompt = [{"role": "user", "content": "Which is larger: 8 or 3?"}]
    p = RefusalParams(refusal="Not sure.")
    judged = judge([Task(prompt, "8"), Task(prompt, "3")], [" 8 ", "8"], p)
    assert judged.known == [True, False]
    assert [r["messages"][-1]["content"] for r in judged.rows] == ["8", "Not sure."]
    assert judged.rows[0]["messages"][0] == prompt[0]


def test_a_blank_refusal_is_refused() -> None:
    with pytest.raises(ValueError, match="refusal: the words to refuse with are blank"):
        RefusalParams(refusal="   ")
