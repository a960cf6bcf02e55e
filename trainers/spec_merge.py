"""The merge job spec: which models, which method with which parameters, where the result goes.

Validated as a whole before anything is queued: the method must be known, its parameters must
pass the method's own model, the number of models must suit the method, and the weights must
make sense for how the method uses them. Checks that need the files (compatibility, quantized
inputs) run in the trainer, before any work (trainers/merge/compat.py). Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from trainers.merge import registry
from trainers.merge.method import MergeMethod
from trainers.spec import SPEC_VERSION, DatasetRef, EventsSink, ModelRef, _Strict
from trainers.spec_evaluate import EvaluatedModel

SUM_TOLERANCE = 1e-3
Problem = tuple[tuple[str | int, ...], str, Any]  # where, what, the offending value


class MergeInput(_Strict):
    """One model or LoRA adapter to merge."""

    name: str = Field(min_length=1, max_length=200, description="How messages and the model card name it.")
    path: str = Field(
        min_length=1, description="A model directory (Hugging Face format) or a LoRA adapter directory."
    )
    weight: float | None = Field(
        None,
        ge=-10.0,
        le=10.0,
        allow_inf_nan=False,
        description="How much of this model goes in; its meaning depends on the method (default 1).",
    )


class GateEvaluation(_Strict):
    """The evaluation step after a gated merge (the platform's promotion gate reads its metrics): the
    model the merge is compared with and the merged one, measured the same way by the evaluation code."""

    reference: EvaluatedModel = Field(description="What the merged model is compared with (metric step 0).")
    dataset: DatasetRef | None = Field(
        None, description="The golden set the task metric is measured on (step 0: reference, step 1: merged)."
    )
    retention: bool = Field(False, description="Measure both on the forgetting report's retention set.")
    max_rows: int = Field(500, ge=1, le=100_000)
    max_length: int = Field(512, ge=16, le=32768)


class MergeSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["merge"] = "merge"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    method: str = Field(min_length=1, description="A name from trainers.merge.registry.catalogue().")
    models: list[MergeInput] = Field(min_length=1, max_length=64)
    base_model: ModelRef | None = None
    params: dict[str, Any] = Field(
        default_factory=dict, description="Checked by the method's own parameter model."
    )
    output_dir: str = Field(min_length=1)
    shard_size_mb: int = Field(500, ge=1, le=100_000, description="Largest output shard, in MiB.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="Weights' type in the output; auto keeps the inputs' type."
    )
    tokenizer_source: Literal["base"] | int | None = Field(
        None,
        description="Whose tokenizer settings and chat template the output keeps where the inputs' differ: "
        "'base' or a model's index. Unset, they must agree. The vocabulary must match whatever is chosen.",
    )
    gate_evaluation: GateEvaluation | None = Field(
        None, description="Measure the reference and the merged model after the merge, for a promotion gate."
    )
    events: EventsSink = EventsSink()

    @model_validator(mode="after")
    def _check_against_method(self) -> MergeSpec:
        problems = spec_problems(self)
        if problems:
            raise ValidationError.from_exception_data(
                "MergeSpec",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("merge_spec", "{message}", {"message": message}),
                        loc=where,
                        input=value,
                    )
                    for where, message, value in problems
                ],
            )
        return self

    def method_params(self) -> BaseModel:
        return registry.get(self.method).params.model_validate(self.params)

    def weights(self) -> list[float]:
        """Each model's weight, 1 where none was given."""
        return [1.0 if m.weight is None else m.weight for m in self.models]


def spec_problems(spec: MergeSpec) -> list[Problem]:
    if spec.method not in registry.METHODS:
        known = registry.known()
        return [(("method",), f"unknown merge method {spec.method!r}; known methods: {known}", spec.method)]
    method = registry.get(spec.method)
    try:
        params = method.params.model_validate(spec.params)
    except ValidationError as exc:
        return [(("params", *e["loc"]), e["msg"], e.get("input")) for e in exc.errors()]
    return count_problems(spec, method) + weight_problems(spec, method, params) + tokenizer_problems(spec)


def tokenizer_problems(spec: MergeSpec) -> list[Problem]:
    source = spec.tokenizer_source
    if source == "base" and spec.base_model is None:
        return [(("tokenizer_source",), "tokenizer_source is 'base' but no base_model is given", source)]
    if isinstance(source, int) and not 0 <= source < len(spec.models):
        return [
            (
                ("tokenizer_source",),
                f"tokenizer_source {source} is not a model's index; "
                f"give 0 to {len(spec.models) - 1} or 'base'",
                source,
            )
        ]
    return []


def count_problems(spec: MergeSpec, method: MergeMethod) -> list[Problem]:
    n, problems = len(spec.models), []
    if n < method.min_models:
        what = "adapters" if method.inputs == "adapters" else "models"
        problems.append(
            (
                ("models",),
                f"{method.name} needs at least {method.min_models} {what}, got {n}; "
                f"add another, or pick a method for a single input such as task_arithmetic or lora_fold",
                n,
            )
        )
    if method.max_models is not None and n > method.max_models:
        problems.append(
            (
                ("models",),
                f"{method.name} takes at most {method.max_models} models, got {n}; "
                "use linear or ties to merge more",
                n,
            )
        )
    if method.needs_base and spec.base_model is None:
        problems.append(
            (
                ("base_model",),
                f"{method.name} needs base_model: the model the others were "
                "fine-tuned from (for adapters, the model they were trained on)",
                None,
            )
        )
    return problems


def weight_problems(spec: MergeSpec, method: MergeMethod, params: BaseModel) -> list[Problem]:
    given = [(i, m.weight) for i, m in enumerate(spec.models) if m.weight is not None]
    if method.weights == "none":
        return [
            (("models", i, "weight"), f"{method.name} takes no per-model weights; remove it", w)
            for i, w in given
        ]
    weights = spec.weights()
    normalize = getattr(params, "normalize", False)
    if method.weights == "proportions" or normalize:
        negative = [(i, w) for i, w in given if w < 0]
        if negative:
            i, w = negative[0]
            hint = (
                "to subtract a model use task_arithmetic with a negative weight"
                if method.weights == "proportions"
                else "turn params.normalize off to subtract a model"
            )
            return [
                (("models", i, "weight"), f"weights are mixing proportions here and must be >= 0; {hint}", w)
            ]
    total = sum(weights)
    if all(w == 0 for w in weights):
        return [
            (("models",), "every weight is 0, so nothing would be merged; give the models weights", weights)
        ]
    if method.weights == "proportions" and not normalize and abs(total - 1) > SUM_TOLERANCE:
        return [
            (
                ("models",),
                f"with params.normalize off the weights must sum to 1 but sum to {total:g}; "
                "scale them or turn normalize on",
                weights,
            )
        ]
    return []
