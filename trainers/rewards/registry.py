"""Every reward Hone offers, in one explicit dict, and the rewards a job chose with their weights.

A job names rewards by name (``{"name": "math", "weight": 1.0, "params": {...}}``); an unknown
name is an error listing the known ones. The total reward of a completion is the weighted sum
(TRL's ``reward_weights``). Importing this module does not import torch,
transformers, math-verify or jsonschema.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trainers.lookup import lookup
from trainers.rewards import (
    classifier,
    contains,
    exact_match,
    json_valid,
    length_penalty,
    math_equivalence,
    multiple_choice,
    required_format,
)
from trainers.rewards.base import Reward, RewardModels, RewardParams, prompt_text

REWARDS: dict[str, Reward] = {
    reward.name: reward
    for reward in (
        exact_match.REWARD,
        math_equivalence.REWARD,
        multiple_choice.REWARD,
        required_format.REWARD,
        json_valid.JSON,
        json_valid.JSON_SCHEMA,
        length_penalty.REWARD,
        contains.REWARD,
        classifier.REWARD,
    )
}


class RewardError(ValueError):
    pass


def get(name: str) -> Reward:
    return lookup(REWARDS, name, RewardError, "reward")


class RewardChoice(BaseModel):
    """One reward a job uses: its name, its weight in the total, and its own parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description=f"One of: {', '.join(REWARDS)}.")
    weight: float = Field(1.0, ge=-10.0, le=10.0, description="Its weight in the total reward.")
    params: dict[str, Any] = Field(
        default_factory=dict, validate_default=True, description="The reward's own parameters."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        """A reward as a form's text gives it (``from_text``)."""
        return from_text(value)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return get(name).name

    @field_validator("params")
    @classmethod
    def _params_fit(cls, raw: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The reward's own parameters, checked against its model (defaults filled in)."""
        name = info.data.get("name")
        if name is None:  # the name was refused already
            return raw
        try:
            parsed = get(name).params.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ValueError(f"{where}: {message}" if where else message) from None
        return parsed.model_dump(by_alias=True)

    def parsed(self) -> RewardParams:
        return get(self.name).params.model_validate(self.params)

    def label(self) -> str:
        """The name its metrics are reported under (``reward_<label>``)."""
        return self.name


def from_text(value: Any) -> Any:
    """``"math"`` or ``"math:0.5"`` (a name and a weight), as a form's comma-separated list gives
    them, as the API's object; a reward with ``text_params`` takes them after ``=``, split by ``/``
    (``"classifier=42/good:0.5"``). Anything else as it is."""
    if not isinstance(value, str):
        return value
    head, _, weight = value.rpartition(":")
    if not head or not _is_number(weight):
        head, weight = value, ""
    name, _, given = head.partition("=")
    found: dict[str, Any] = {"name": name.strip()}
    if weight.strip():
        found["weight"] = weight.strip()
    reward = REWARDS.get(name.strip())
    if given and reward is not None and reward.text_params:
        values = [v.strip() for v in given.split("/", len(reward.text_params) - 1)]
        found["params"] = dict(zip(reward.text_params, values, strict=False))
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def total(
    choices: list[RewardChoice],
    completion: str,
    answer: str,
    models: RewardModels | None = None,
    prompt: Any = None,
) -> tuple[float, dict[str, float]]:
    """The weighted total of one completion, and each reward's own score."""
    return totals(choices, [completion], [answer], models, None if prompt is None else [prompt])[0]


def totals(
    choices: list[RewardChoice],
    completions: list[str],
    answers: list[str],
    models: RewardModels | None = None,
    prompts: list[Any] | None = None,
) -> list[tuple[float, dict[str, float]]]:
    """``total`` of each completion, each reward scoring them all at once (a reward model in batches);
    ``models``: the reward models' directories by id (``TrainSpec.reward_models``); ``prompts``: each
    completion's prompt (a chat or text), for a reward that reads it too (a classifier may)."""
    texts = None if prompts is None else [prompt_text(p) for p in prompts]
    by_reward = {
        c.label(): get(c.name).scores(completions, answers, c.parsed(), models or {}, texts) for c in choices
    }
    found = []
    for i in range(len(completions)):
        each = {label: scores[i] for label, scores in by_reward.items()}
        found.append((sum(c.weight * each[c.label()] for c in choices), each))
    return found


def reward_model_ids(choices: list[RewardChoice]) -> list[int]:
    """The model ids the chosen rewards load (a classifier's ``params.model``), each once, in order."""
    ids = [c.params["model"] for c in choices if c.name == classifier.REWARD.name]
    return list(dict.fromkeys(ids))


def row_problems(choices: list[RewardChoice], answer: str) -> list[tuple[int, str]]:
    """(index of the reward, why it cannot score this answer), for each chosen reward that cannot."""
    found = []
    for index, choice in enumerate(choices):
        why = get(choice.name).row_problem(answer, choice.parsed())
        if why:
            found.append((index, why))
    return found
