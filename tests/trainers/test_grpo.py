"""GRPO end to end on a task the fixture makes with its own checker: "Which is larger: 3 or 8?".

The tiny model is first taught the format with a wrong rule (answer the first number: right half the
time), so its held-out accuracy starts near 50%; GRPO, rewarded only by exact match against the
fixture's answers, must find the rule. Nothing here tunes to the held-out answers.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, run_trainer, write_jsonl, write_spec
from tests.trainers.test_checkpoints import Stopped, _stop_at
from tests.trainers.test_train import _run_until_sigterm
from trainers.data import DataError
from trainers.events import EventEmitter
from trainers.spec import SpecError, parse_spec
from trainers.tiny import larger_number_rows
from trainers.train import run_training

GRPO = {"num_generations": 8, "max_completion_length": 4, "beta": 0.04, "rewards": ["exact_match"]}
TRAINING = {"learning_rate": 5e-3, "epochs": 1, "batch_size": 8, "max_seq_length": 64, "evals_per_run": 3,
            "checkpoints_per_run": 0, "eval_fraction": 0.15, "warmup_ratio": 0.0}  # fmt: skip


def _train(spec: dict) -> list[dict]:
    out = io.StringIO()
    run_training(parse_spec(spec), EventEmitter(out))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _points(events: list[dict], name: str, split: str) -> dict[int, float]:
    return {e["step"]: e["value"] for e in events if e["kind"] == "metric" and e["name"] == name
            and e["split"] == split}  # fmt: skip


@pytest.fixture(scope="session")
def first_number_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model fine-tuned (full) to answer with the first number: the right format, the wrong rule."""
    where = tmp_path_factory.mktemp("warm")
    data = write_jsonl(where / "first.jsonl", larger_number_rows(400, seed=1, answer="first"))
    training = {"learning_rate": 3e-3, "epochs": 2, "batch_size": 16, "evals_per_run": 1,
                "checkpoints_per_run": 0}  # fmt: skip
    _train(make_spec(tiny_model_dir, data, where / "out", method="full", training=training))
    return where / "out" / "model"


@pytest.fixture(scope="session")
def larger_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "larger.jsonl", larger_number_rows(300, seed=2))


def _grpo_spec(model: Path, data: Path, out: Path, **overrides) -> dict:
    spec = make_spec(model, data, out, objective="grpo", method="full", training=TRAINING, grpo=GRPO)
    return spec | overrides


@pytest.fixture(scope="session")
def grpo_run(first_number_model: Path, larger_jsonl: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
    return _train(_grpo_spec(first_number_model, larger_jsonl, tmp_path_factory.mktemp("grpo")))


def test_held_out_accuracy_rises_clearly_under_grpo(grpo_run: list[dict]) -> None:
    accuracy = _points(grpo_run, "accuracy", "eval")
    first, last = accuracy[0], accuracy[max(accuracy)]
    assert 0.25 <= first <= 0.65  # the wrong rule is right about half the time
    assert last >= 0.8 and last - first >= 0.25, accuracy


def test_it_reports_rewards_kl_and_completion_length_live(grpo_run: list[dict]) -> None:
    for name in ("reward", "reward_std", "reward_exact_match", "reward_exact_match_std", "kl",
                 "completion_length"):  # fmt: skip
        assert _points(grpo_run, name, "train"), name
    train_reward = list(_points(grpo_run, "reward", "train").values())
    third = len(train_reward) // 3
    assert sum(train_reward[-third:]) / third > sum(train_reward[:third]) / third  # reward goes up
    assert _points(grpo_run, "reward_exact_match", "eval")


def test_samples_carry_the_completion_and_its_rewards(grpo_run: list[dict]) -> None:
    samples = [e for e in grpo_run if e["kind"] == "sample"]
    assert samples and all(set(s["rewards"]) == {"exact_match"} for s in samples)
    held_out = [s for s in samples if s.get("split") != "train"]
    assert held_out[0]["prompt"].startswith("Which is larger") and held_out[0]["expected"].isdigit()
    assert all(s["rewards"]["exact_match"] == float(s["output"].strip() == s["expected"]) for s in held_out)


def test_the_trained_model_is_saved(grpo_run: list[dict]) -> None:
    artifact = next(e for e in grpo_run if e["kind"] == "artifact")
    assert artifact["artifact_kind"] == "model"
    assert (Path(artifact["location"]) / "model.safetensors").is_file()
    assert grpo_run[-1]["status"] == "succeeded"


def test_a_lora_run_trains_and_saves_only_its_adapter(
    tmp_path: Path, first_number_model: Path, larger_jsonl: Path
) -> None:
    training = TRAINING | {"epochs": 0.2, "learning_rate": 2e-2}
    events = _train(_grpo_spec(first_number_model, larger_jsonl, tmp_path / "out", method="lora",
                               training=training))  # fmt: skip
    adapter = Path(next(e for e in events if e["kind"] == "artifact")["location"])
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert not any("ref" in name for name in _tensor_names(adapter / "adapter_model.safetensors"))


def _tensor_names(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return list(f.keys())


def test_a_run_stopped_by_sigterm_resumes_where_it_stopped(
    tmp_path: Path, first_number_model: Path, larger_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = TRAINING | {"epochs": 0.4}
    spec = _grpo_spec(first_number_model, larger_jsonl, tmp_path / "out", training=training)
    _stop_at(monkeypatch, 4)
    with pytest.raises(Stopped):
        _train(spec)
    monkeypatch.undo()
    checkpoint = tmp_path / "out" / "checkpoints" / "checkpoint-4"
    assert (checkpoint / "trainer_state.json").is_file()
    resumed = _train(spec | {"attempt": 2, "resume_from": str(checkpoint)})
    steps = sorted(_points(resumed, "reward", "train"))
    planned = next(e for e in resumed if e["kind"] == "started")["total_steps"]
    assert steps == list(range(5, planned + 1))  # no step twice, none missing
    assert 0 not in _points(resumed, "accuracy", "eval")  # no fresh baseline: the same run goes on
    assert resumed[-1]["status"] == "succeeded"


def test_a_real_sigterm_ends_the_trainer_with_143_and_the_next_attempt_goes_on(
    tmp_path: Path, first_number_model: Path, larger_jsonl: Path
) -> None:
    """Through ``python -m trainers run``, as the executors run it."""
    training = TRAINING | {"epochs": 0.4, "checkpoints_per_run": 1}  # the planned one: at the very end
    spec = _grpo_spec(first_number_model, larger_jsonl, tmp_path / "out", method="lora",
                      training=training | {"learning_rate": 2e-2})  # fmt: skip
    stopped = _run_until_sigterm(write_spec(tmp_path / "spec.json", spec), after_step=3)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    checkpoint = stopped.of_kind("checkpoint")[-1]
    planned = stopped.of_kind("started")[0]["total_steps"]
    assert 3 <= checkpoint["step"] < planned and stopped.events[-1]["status"] == "cancelled"
    spec |= {"attempt": 2, "resume_from": checkpoint["location"]}
    resumed = run_trainer(write_spec(tmp_path / "spec2.json", spec))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.of_kind("progress")[0]["step"] == checkpoint["step"] + 1
    assert resumed.of_kind("progress")[-1]["step"] == planned
    assert resumed.of_kind("artifact") and resumed.events[-1]["status"] == "succeeded"


# --- refusals, before any model loads or any step runs -------------------------------------------


def _refusal(tmp_path: Path, model: Path, rows: list[dict], monkeypatch: pytest.MonkeyPatch, **grpo) -> str:
    def no_weights(*args, **kwargs):
        raise AssertionError("the model was loaded before the data was checked")

    monkeypatch.setattr("trainers.train.load_base_model", no_weights)
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises((DataError, SpecError)) as refused:
        _train(_grpo_spec(model, data, tmp_path / "out", grpo=GRPO | grpo))
    assert not (tmp_path / "out" / "checkpoints").exists()
    return str(refused.value)


def test_math_on_an_answer_that_is_no_number_is_refused_at_its_row(tmp_path, tiny_model_dir, monkeypatch):
    rows = larger_number_rows(20) + [{"prompt": "Name a colour.", "answer": "blue"}]
    message = _refusal(tmp_path, tiny_model_dir, rows, monkeypatch, rewards=["math"])
    assert "line 21" in message and "'answer'" in message and "math cannot score this row" in message


def test_a_prompt_longer_than_the_budget_allows_is_refused(tmp_path, tiny_model_dir, monkeypatch) -> None:
    rows = larger_number_rows(20) + [{"prompt": "Which is larger? " + "seven " * 40, "answer": "7"}]
    message = _refusal(tmp_path, tiny_model_dir, rows, monkeypatch)
    assert "line 21" in message and "'prompt'" in message and "training.max_seq_length 64" in message


def test_a_json_schema_reward_without_a_schema_is_refused(tmp_path, tiny_model_dir, monkeypatch) -> None:
    message = _refusal(tmp_path, tiny_model_dir, larger_number_rows(20), monkeypatch,
                       rewards=[{"name": "json_schema"}])
    assert "grpo.rewards.0.params: schema: Field required" in message


def test_a_completion_budget_that_fills_the_sequence_is_refused(tmp_path, tiny_model_dir, monkeypatch):
    message = _refusal(tmp_path, tiny_model_dir, larger_number_rows(20), monkeypatch,
                       max_completion_length=64)
    assert message.startswith("grpo.max_completion_length: 64 leaves no room for a prompt")
