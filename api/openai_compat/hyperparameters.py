"""OpenAI's ``method`` and ``hyperparameters`` as a Hone training job's objective and parameters.

``"auto"`` (or leaving a value out) takes the value Hone's default preset chooses for this model
and data (``jobs.guided.presets``: method, adapter size, epochs, batch and learning rate); a number
replaces it: ``n_epochs`` → ``training.epochs``, ``batch_size`` → ``training.batch_size`` (with no
accumulation), ``learning_rate_multiplier`` × the preset's learning rate → ``training.learning_rate``,
``beta`` → ``dpo.beta``. Ranges are checked by the launch path, whose problems come back under the
OpenAI name that set them (``places``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.openai_compat.errors import InvalidRequest
from jobs.data import preview
from jobs.guided import presets, sizing
from jobs.models import Dataset, ModelAsset

OBJECTIVES = {"supervised": "sft", "dpo": "dpo"}
KNOWN = {
    "supervised": ("n_epochs", "batch_size", "learning_rate_multiplier"),
    "dpo": ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"),
}
WHOLE = ("n_epochs", "batch_size")


@dataclass
class Choice:
    """What the body asked for: the method type, its given hyperparameters and where they were written."""

    type: str
    given: dict
    at: str  # "method.dpo.hyperparameters", or "hyperparameters" (the deprecated top-level field)
    places: dict = field(default_factory=dict)  # Hone place → OpenAI param, for the launch path's problems


def method_of(body: dict) -> Choice:
    """The ``method`` (and the deprecated top-level ``hyperparameters``) of a create body."""
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict):
        raise InvalidRequest('method must be an object like {"type": "supervised"}.', param="method")
    kind = method.get("type", "supervised")
    if kind == "reinforcement":
        raise InvalidRequest(
            "method.type 'reinforcement' is not available yet: it needs graders from Hone's reward "
            "registry. Use 'supervised' or 'dpo'.",
            param="method.type",
            code="unsupported_method",
        )
    if kind not in OBJECTIVES:
        raise InvalidRequest(
            f"method.type must be 'supervised' or 'dpo', got {kind!r}.",
            param="method.type",
            code="invalid_method",
        )
    inner = method.get(kind) or {}
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
    return Choice(kind, given, at)


def _check_value(kind: str, name: str, value: object, param: str) -> None:
    if name not in KNOWN[kind]:
        raise InvalidRequest(
            f"{param} is not a hyperparameter of {kind}; use {', '.join(KNOWN[kind])}.", param=param
        )
    if value == "auto":
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (name in WHOLE and not float(value).is_integer()) or value <= 0:
        what = "a positive whole number" if name in WHOLE else "a positive number"
        raise InvalidRequest(f'{param} must be {what} or "auto", got {value!r}.', param=param)


def preset_params(base: ModelAsset, dataset: Dataset, objective: str) -> tuple[str, dict]:
    """The default preset's method and parameters for this model, data and objective."""
    facts = sizing.model_facts(base)
    try:
        lengths = preview.token_lengths(dataset, base)
    except preview.PreviewUnavailable:
        lengths = []
    size = presets.Sizing(
        facts,
        dataset.row_count,
        preview.recommended_max_length(lengths, facts.max_positions),
        sizing.default_profile(),
    )
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
    return found
