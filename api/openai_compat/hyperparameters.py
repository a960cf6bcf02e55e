"""OpenAI's ``method`` and ``hyperparameters`` as a Hone training job's objective and parameters.

``"auto"`` (or leaving a value out) takes the value Hone's default preset chooses for this model
and data (``jobs.guided.presets``: method, adapter size, epochs, batch and learning rate); a number
replaces it: ``n_epochs`` → ``training.epochs``, ``batch_size`` → ``training.batch_size`` (with no
accumulation), ``learning_rate_multiplier`` × the preset's learning rate → ``training.learning_rate``,
``beta`` → ``dpo.beta``. For ``reinforcement`` (Hone's ``grpo``): ``compute_multiplier`` × the
group of answers sampled per prompt (8) → ``grpo.num_generations``; ``eval_interval``,
``eval_samples`` and ``reasoning_effort`` have no Hone counterpart and take only ``"auto"`` (or
``"default"``), refused otherwise with the reason; the grader becomes ``grpo.rewards``
(``graders``). Ranges are checked by the launch path, whose problems come back under the
OpenAI name that set them (``places``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from api.openai_compat.errors import InvalidRequest
from jobs.data import preview
from jobs.guided import presets, sizing
from jobs.models import Dataset, ModelAsset
from trainers.objectives.grpo_params import GrpoParams

GROUP = GrpoParams().num_generations  # answers per prompt at compute_multiplier 1

OBJECTIVES = {"supervised": "sft", "dpo": "dpo", "reinforcement": "grpo"}
COMMON = ("n_epochs", "batch_size", "learning_rate_multiplier")
KNOWN = {
    "supervised": COMMON,
    "dpo": (*COMMON, "beta"),
    "reinforcement": (*COMMON, "compute_multiplier", "eval_interval", "eval_samples", "reasoning_effort"),
}
WHOLE = ("n_epochs", "batch_size", "eval_interval", "eval_samples")
# Reinforcement settings Hone has no counterpart for: only "auto" (or "default") is taken, and why.
NOT_MAPPED = {
    "eval_interval": "Hone evaluates the held-out prompts training.evals_per_run times over a run, "
    "not every N steps",
    "eval_samples": "Hone's held-out check scores one greedy answer per prompt",
    "reasoning_effort": "Hone's models have no reasoning-effort setting; the answer's length is bounded "
    "by grpo.max_completion_length",
}


@dataclass
class Choice:
    """What the body asked for: the method type, its given hyperparameters and where they were written."""

    type: str
    given: dict
    at: str  # "method.dpo.hyperparameters", or "hyperparameters" (the deprecated top-level field)
    places: dict = field(default_factory=dict)  # Hone place → OpenAI param, for the launch path's problems
    grader: object = None  # method.reinforcement.grader as given (api.openai_compat.graders maps it)


def method_of(body: dict) -> Choice:
    """The ``method`` (and the deprecated top-level ``hyperparameters``) of a create body."""
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict):
        raise InvalidRequest('method must be an object like {"type": "supervised"}.', param="method")
    kind = method.get("type", "supervised")
    if not isinstance(kind, str) or kind not in OBJECTIVES:
        raise InvalidRequest(
            f"method.type must be 'supervised', 'dpo' or 'reinforcement', got {kind!r}.",
            param="method.type",
            code="invalid_method",
        )
    inner = method.get(kind) or {}
    if not isinstance(inner, dict):
        raise InvalidRequest(f"method.{kind} must be an object.", param=f"method.{kind}")
    given, at = (
        (inner.get("hyperparameters") if isinstance(inner, dict) else None),
        f"method.{kind}.hyperparameters",
    )
    top = body.get("hyperparameters")
    if top is not None and not given:
        given, at = top, "hyperparameters"
    given = given or {}
    if not isinstance(given, dict):
        raise InvalidRequest(f"{at} must be an object.", param=at)
    for name, value in given.items():
        _check_value(kind, name, value, f"{at}.{name}")
    return Choice(kind, given, at, grader=inner.get("grader"))


def _check_value(kind: str, name: str, value: object, param: str) -> None:
    if name not in KNOWN[kind]:
        raise InvalidRequest(
            f"{param} is not a hyperparameter of {kind}; use {', '.join(KNOWN[kind])}.", param=param
        )
    if value == "auto" or (name == "reasoning_effort" and value == "default"):
        return
    if name in NOT_MAPPED:
        raise InvalidRequest(
            f'{param} can only be "auto" in Hone: {NOT_MAPPED[name]}; got {value!r}.',
            param=param,
            code="unsupported_hyperparameter",
        )
    number = _finite(value)
    if number is None or (name in WHOLE and not number.is_integer()) or number <= 0:
        what = "a positive whole number" if name in WHOLE else "a positive number"
        raise InvalidRequest(f'{param} must be {what} or "auto", got {value!r}.', param=param)


def _finite(value: object) -> float | None:
    """The value as a finite float; None for anything else (text, booleans, NaN, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def preset_params(base: ModelAsset, dataset: Dataset, objective: str) -> tuple[str, dict]:
    """The default preset's method and parameters for this model, data and objective."""
    facts = sizing.model_facts(base)
    try:
        lengths = preview.token_lengths(dataset, base)
    except preview.PreviewUnavailable:
        lengths = []
    length = preview.recommended_max_length(lengths, facts.max_positions)
    if objective == "grpo":  # the prompt (measured with its reference) plus the sampled answer's budget
        length = min(length + GrpoParams().max_completion_length, facts.max_positions or length * 2)
    size = presets.Sizing(facts, dataset.row_count, length, sizing.default_profile())
    recipe = presets.recipe(presets.PRESETS[presets.DEFAULT_PRESET], objective, size)
    params = {
        group: dict(values) if isinstance(values, dict) else values for group, values in recipe.params.items()
    }
    params.pop("objective", None)
    return recipe.method, params


def apply(choice: Choice, params: dict, seed: int | None) -> dict:
    """``params`` with the numbers the body gave in place of the preset's; notes where each came from."""
    training = params.setdefault("training", {})
    for name, value in choice.given.items():
        if value == "auto":
            continue
        param = f"{choice.at}.{name}"
        if name == "n_epochs":
            training["epochs"] = int(value)
            choice.places[("training", "epochs")] = param
        elif name == "batch_size":
            training["batch_size"], training["gradient_accumulation_steps"] = int(value), 1
            choice.places[("training", "batch_size")] = param
        elif name == "learning_rate_multiplier":
            training["learning_rate"] = training["learning_rate"] * float(value)
            choice.places[("training", "learning_rate")] = param
        elif name == "compute_multiplier":  # more compute to explore = more answers sampled per prompt
            grpo = params.setdefault("grpo", {})
            grpo["num_generations"] = round(grpo.get("num_generations", GROUP) * float(value))
            choice.places[("grpo", "num_generations")] = param
        elif name == "beta":
            params.setdefault("dpo", {})["beta"] = float(value)
            choice.places[("dpo", "beta")] = param
    if seed is not None:
        training["seed"] = seed
        choice.places[("training", "seed")] = "seed"
    return params


def shown(kind: str, given: dict, params: dict) -> dict:
    """The hyperparameters as OpenAI reports them: the numbers the job trains with. The learning rate
    is a multiple of the preset's, so "auto" is 1."""
    training = params.get("training", {})
    multiplier = given.get("learning_rate_multiplier", "auto")
    found = {
        "n_epochs": training.get("epochs"),
        "batch_size": training.get("batch_size", 1) * training.get("gradient_accumulation_steps", 1),
        "learning_rate_multiplier": 1.0 if multiplier == "auto" else float(multiplier),
    }
    if kind == "dpo":
        found["beta"] = params.get("dpo", {}).get("beta")
    if kind == "reinforcement":
        group = params.get("grpo", {}).get("num_generations", GROUP)
        found |= {"compute_multiplier": group / GROUP, "eval_interval": "auto", "eval_samples": "auto",
                  "reasoning_effort": "default"}  # fmt: skip
    return found
