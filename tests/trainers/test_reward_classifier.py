"""A reward model from a Hone classifier: a tiny classifier the fixture trains to like high digits (5-9)
over low ones scores GRPO's completions, and the policy (which answers "Which is larger: a or b?" with
the first number, so high about half the time) moves towards what it likes. The reward knows nothing of
the task's answers; the classifier's probability of "high" is the whole reward.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.trainers.conftest import make_spec, write_jsonl
from tests.trainers.test_grpo import (  # noqa: F401 (fixtures)
    _grpo_spec,
    _points,
    _train,
    first_number_model,
    larger_jsonl,
)
from trainers.rewards import registry
from trainers.rewards.classifier import ClassifierError, load
from trainers.rewards.registry import RewardChoice
from trainers.spec import SpecError, parse_spec

MODEL_ID = 41
LIKES_HIGH = {"name": "classifier", "params": {"model": MODEL_ID, "label": "high"}}


def digit_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"text": str(d), "label": "high" if d >= 5 else "low"} for d in (rng.randrange(10) for _ in range(n))
    ]


@pytest.fixture(scope="session")
def high_digit_classifier(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("classifier")
    data = write_jsonl(where / "digits.jsonl", digit_rows(300, seed=3))
    training = {"learning_rate": 3e-3, "epochs": 3, "batch_size": 16, "max_seq_length": 16,
                "evals_per_run": 1, "checkpoints_per_run": 0}  # fmt: skip
    spec = make_spec(tiny_model_dir, data, where / "out", objective="classification", method="full",
                     training=training)  # fmt: skip
    spec["dataset"]["task"] = "classification"
    events = _train(spec)
    assert events[-1]["status"] == "succeeded"
    return where / "out" / "model"


def test_the_classifier_reward_is_its_probability_of_the_good_label(high_digit_classifier: Path) -> None:
    choice = RewardChoice.model_validate(LIKES_HIGH)
    scored = registry.totals(
        [choice], ["8", "9", "1", "2"], ["", "", "", ""], {str(MODEL_ID): str(high_digit_classifier)}
    )
    high, low = [each["classifier"] for _, each in scored[:2]], [each["classifier"] for _, each in scored[2:]]
    assert all(0.0 <= s <= 1.0 for s in high + low)
    assert min(high) > 0.7 and max(low) < 0.3, (high, low)
    assert load(str(high_digit_classifier)) is load(str(high_digit_classifier))  # loaded once per process


def test_a_label_the_classifier_does_not_know_is_an_error(high_digit_classifier: Path) -> None:
    choice = RewardChoice.model_validate(
        {"name": "classifier", "params": {"model": MODEL_ID, "label": "odd"}}
    )
    with pytest.raises(ClassifierError, match="high, low|low, high"):
        registry.totals([choice], ["8"], [""], {str(MODEL_ID): str(high_digit_classifier)})


def test_a_spec_without_the_classifier_directory_is_refused(
    tmp_path: Path,
    tiny_model_dir: Path,
    larger_jsonl: Path,  # noqa: F811
) -> None:
    spec = _grpo_spec(tiny_model_dir, larger_jsonl, tmp_path / "out")
    spec["grpo"] = spec["grpo"] | {"rewards": [LIKES_HIGH]}
    with pytest.raises(SpecError, match=f"reward_models: no directory for model {MODEL_ID}"):
        parse_spec(spec)


def test_grpo_moves_the_policy_towards_what_the_classifier_likes(
    tmp_path: Path,
    first_number_model: Path,  # noqa: F811
    larger_jsonl: Path,  # noqa: F811
    high_digit_classifier: Path,
) -> None:
    spec = _grpo_spec(first_number_model, larger_jsonl, tmp_path / "out")
    spec["grpo"] = spec["grpo"] | {"rewards": [LIKES_HIGH]}
    spec["reward_models"] = {str(MODEL_ID): str(high_digit_classifier)}
    events = _train(spec)
    assert events[-1]["status"] == "succeeded"
    liked = _points(events, "reward_classifier", "eval")  # held-out prompts, greedy answers
    first, last = liked[0], liked[max(liked)]
    assert 0.25 <= first <= 0.75  # the first number is high about half the time
    assert last - first >= 0.2, liked
    train_reward = list(_points(events, "reward_classifier", "train").values())
    third = len(train_reward) // 3
    assert sum(train_reward[-third:]) / third > sum(train_reward[:third]) / third
    samples = [e for e in events if e["kind"] == "sample"]
    assert samples and all(set(s["rewards"]) == {"classifier"} for s in samples)


def test_a_classifier_that_reads_the_question_gets_the_last_user_turn_then_the_answer(
    high_digit_classifier: Path,
) -> None:
    from trainers.rewards.classifier import probabilities

    reads_both = {"name": "classifier", "params": LIKES_HIGH["params"] | {"reads": "prompt_and_completion"}}
    choice = RewardChoice.model_validate(reads_both)
    models = {str(MODEL_ID): str(high_digit_classifier)}
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Which is larger: 2 or 7?"},
    ]
    ((_, each),) = registry.totals([choice], [" 7 "], [""], models, [chat])
    expected = probabilities(load(str(high_digit_classifier)), ["Which is larger: 2 or 7?\n\n7"], "high")
    assert each["classifier"] == pytest.approx(expected[0])
    alone = registry.totals([RewardChoice.model_validate(LIKES_HIGH)], [" 7 "], [""], models, [chat])
    assert alone[0][1]["classifier"] == pytest.approx(
        probabilities(load(str(high_digit_classifier)), ["7"], "high")[0]
    )
    with pytest.raises(ClassifierError, match="reads the question too"):
        registry.totals([choice], ["7"], [""], models)


def test_grpo_gives_its_reward_functions_the_questions(high_digit_classifier: Path) -> None:
    from trainers.objectives.grpo import reward_functions
    from trainers.objectives.grpo_params import GrpoParams
    from trainers.rewards.classifier import probabilities

    class Keeps:
        def keep(self, *_: object) -> None:
            pass

    class Callback:
        recent = Keeps()

    reads_both = {"name": "classifier", "params": LIKES_HIGH["params"] | {"reads": "prompt_and_completion"}}
    params = GrpoParams.model_validate({"rewards": [reads_both]})
    (score,) = reward_functions(params, Callback(), {str(MODEL_ID): str(high_digit_classifier)})
    prompts = [[{"role": "user", "content": "Pick one: 1 or 9"}]]
    completions = [[{"role": "assistant", "content": "9"}]]
    found = score(prompts=prompts, completions=completions, answer=[""])
    assert found == pytest.approx(
        probabilities(load(str(high_digit_classifier)), ["Pick one: 1 or 9\n\n9"], "high")
    )
