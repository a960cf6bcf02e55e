"""The reward registry: each reward on real answers, right and wrong, and the rows it refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trainers.rewards import registry
from trainers.rewards.base import final_answer
from trainers.rewards.registry import RewardChoice, RewardError


def _score(name: str, completion: str, answer: str = "", **params) -> float:
    choice = RewardChoice(name=name, params=params)
    return registry.get(name).score(completion, answer, choice.parsed())


@pytest.mark.parametrize(
    ("completion", "answer", "expected"),
    [
        ("The Paris.", "paris", 1.0),
        ("  mirelle ", "Mirelle", 1.0),
        ("<think>it is north</think><answer>Kephir</answer>", "kephir", 1.0),
        ("I think it is Lyon. Answer: Paris", "Paris", 1.0),
        ("Lyon", "Paris", 0.0),
        ("Paris is nice", "Paris", 0.0),  # an answer with more in it is not an exact match
        ("", "Paris", 0.0),
    ],
)
def test_exact_match(completion: str, answer: str, expected: float) -> None:
    assert _score("exact_match", completion, answer) == expected


def test_exact_match_keeps_a_single_letter_answer_that_looks_like_an_article() -> None:
    assert _score("exact_match", "A", "A") == 1.0
    assert _score("exact_match", "Answer: (a)", "A") == 1.0
    assert _score("exact_match", "B", "A") == 0.0
    assert _score("exact_match", "A cat", "cat") == 1.0  # an article before a word still does not count
    reward = registry.get("exact_match")
    assert reward.row_problem("A", reward.params()) is None  # "A" is an answer, not empty


def test_contains_looks_at_the_whole_answer_and_counts_case_unless_told() -> None:
    assert _score("contains", "I think it is Paris, France.", "Paris") == 1.0
    assert _score("contains", "I think it is paris.", "Paris") == 0.0
    assert _score("contains", "I think it is paris.", "Paris", case_sensitive=False) == 1.0
    assert _score("contains", "Lyon", "Paris", case_sensitive=False) == 0.0
    assert registry.get("contains").row_problem("", registry.get("contains").params()) is not None


def test_exact_match_can_count_case() -> None:
    assert _score("exact_match", "paris", "Paris", case_sensitive=True) == 0.0
    assert _score("exact_match", "Paris", "Paris", case_sensitive=True) == 1.0


@pytest.mark.parametrize(
    ("completion", "answer", "expected"),
    [
        ("42", "42", 1.0),
        ("The answer is 0.5", "1/2", 1.0),
        ("$\\frac{1}{2}$", "0.5", 1.0),
        ("#### 1,000", "1000", 1.0),
        ("\\boxed{\\frac{3}{4}}", "0.75", 1.0),
        ("<answer>7</answer>", "7.0", 1.0),
        ("41", "42", 0.0),
        ("0.51", "1/2", 0.0),
        ("no idea", "3", 0.0),
        ("", "3", 0.0),
    ],
)
def test_math_equivalence(completion: str, answer: str, expected: float) -> None:
    assert _score("math", completion, answer) == expected


@pytest.mark.parametrize(
    ("completion", "answer", "expected"),
    [
        ("B", "B", 1.0),
        ("(c)", "C", 0.0),  # lower case is a word, not a pick
        ("The answer is (C).", "C", 1.0),
        ("Answer: D", "D", 1.0),
        ("B) because ...", "B", 1.0),
        ("A", "B", 0.0),
        ("A or B", "B", 0.0),  # two picks are none
        ("I would say Banana", "B", 0.0),
        ("E", "E", 0.0),  # not an option of ABCD
    ],
)
def test_multiple_choice(completion: str, answer: str, expected: float) -> None:
    assert _score("multiple_choice", completion, answer) == expected


def test_format_reasoning_then_answer() -> None:
    assert _score("format", "<think>2+2 is 4</think>\n<answer>4</answer>") == 1.0
    assert _score("format", "<answer>4</answer>") == 0.0  # no reasoning
    assert _score("format", "<think>hm</think><answer>4</answer> and more") == 0.0
    assert _score("format", "4") == 0.0
    assert _score("format", "Answer: 12", pattern=r"Answer: \d+") == 1.0


def test_a_format_that_does_not_compile_is_refused_at_its_field() -> None:
    with pytest.raises(ValidationError, match=r"params\n.*pattern: .*not a valid regular expression"):
        RewardChoice(name="format", params={"pattern": "(unclosed"})


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.mark.parametrize(
    ("completion", "name", "params", "expected"),
    [
        ('{"n": 3}', "json", {}, 1.0),
        ('```json\n{"n": 3}\n```', "json", {}, 1.0),
        ("{n: 3}", "json", {}, 0.0),
        ("", "json", {}, 0.0),
        ('{"n": 3}', "json_schema", {"schema": SCHEMA}, 1.0),
        ('{"n": "3"}', "json_schema", {"schema": SCHEMA}, 0.0),
        ('{"m": 3}', "json_schema", {"schema": SCHEMA}, 0.0),
        ("not json", "json_schema", {"schema": SCHEMA}, 0.0),
    ],
)
def test_json(completion: str, name: str, params: dict, expected: float) -> None:
    assert _score(name, completion, **params) == expected


def test_json_schema_needs_a_schema_and_a_valid_one() -> None:
    with pytest.raises(ValidationError, match=r"params\n.*schema: Field required"):
        RewardChoice(name="json_schema")
    with pytest.raises(ValidationError, match="not a valid JSON Schema"):
        RewardChoice(name="json_schema", params={"schema": {"type": "no-such-type"}})


def test_length_penalty() -> None:
    assert _score("length_penalty", "one two three", max_words=3) == 0.0
    assert _score("length_penalty", " ".join(["w"] * 6), max_words=4) == pytest.approx(-0.5)
    assert _score("length_penalty", " ".join(["w"] * 50), max_words=4) == -1.0


def test_an_unknown_reward_lists_the_known_ones() -> None:
    with pytest.raises(RewardError, match="unknown reward 'bleu'; known rewards: exact_match, math, "):
        registry.get("bleu")
    with pytest.raises(ValidationError, match="unknown reward 'bleu'"):
        RewardChoice(name="bleu")


def test_unknown_reward_params_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"params\n.*max_chars: Extra inputs"):
        RewardChoice(name="length_penalty", params={"max_chars": 3})


def test_rewards_combine_with_weights() -> None:
    choices = [
        RewardChoice(name="math", weight=1.0),
        RewardChoice(name="format", weight=0.5, params={"pattern": r".*<answer>.+</answer>"}),
        RewardChoice(name="length_penalty", weight=0.1, params={"max_words": 2}),
    ]
    total, each = registry.total(choices, "it is <answer>4</answer>", "4")  # 3 words
    assert each == {"math": 1.0, "format": 1.0, "length_penalty": -0.5}
    assert total == pytest.approx(1.0 + 0.5 - 0.05)
    total, each = registry.total(choices, "<answer>5</answer>", "4")
    assert each["math"] == 0.0 and total == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("name", "answer", "refused"),
    [
        ("math", "forty-two", True),
        ("math", "3/4", False),
        ("multiple_choice", "banana", True),
        ("multiple_choice", "(b)", False),
        ("exact_match", "...", True),
        ("format", "", False),  # scores the completion alone
    ],
)
def test_a_reward_says_which_answers_it_cannot_score(name: str, answer: str, refused: bool) -> None:
    problems = registry.row_problems([RewardChoice(name=name)], answer)
    assert bool(problems) is refused


def test_final_answer_takes_the_last_marked_answer() -> None:
    assert final_answer("<answer>1</answer> then <answer>2</answer>") == "2"
    assert final_answer("steps... #### 18") == "18"
    assert final_answer("  plain  ") == "plain"
