"""Creating merge, quantize and evaluate jobs through the API.

Each kind has its own request body (``kind`` tells them apart). Parameters are checked by the
trainer's own models (``trainers.chain_methods``), inputs against what the team may use, and
then the whole job by the launch path (``jobs.launch``), which builds the trainer's spec and runs the
checks that need the files. Every refusal names the request field it is about.
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers

from jobs.gates import GATE, GOLDEN_ROLE
from jobs.launch import LaunchRefused, LaunchRequest, launch
from jobs.launch.errors import api_errors, dotted
from jobs.launch.types import pydantic_problems
from jobs.models import ComputeProfile, Dataset, Job, ModelAsset, Team
from trainers import chain_methods
from trainers.merge import registry

DTYPES = ["auto", "float32", "float16", "bfloat16"]


def check_profile(team: Team, value: int | None) -> ComputeProfile | None:
    if value is None:
        return None
    profile = ComputeProfile.objects.visible_to(team).filter(pk=value).first()
    if profile is None:
        raise serializers.ValidationError(
            f"there is no compute profile #{value} that {team.name} may use; see GET /api/v1/profiles"
        )
    return profile


def profile_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="A compute profile id from GET /api/v1/profiles; omitted: the installation's default.",
    )


def model_of(team: Team, value: int) -> ModelAsset:
    model = ModelAsset.objects.visible_to(team).filter(pk=value).first()
    if model is None:
        raise serializers.ValidationError(f"there is no model #{value} available to {team.name}")
    return model


def dataset_of(team: Team, value: int | None) -> Dataset | None:
    if value is None:
        return None
    dataset = team.datasets.filter(pk=value).first()
    if dataset is None:
        raise serializers.ValidationError(f"there is no dataset #{value} in {team.name}")
    return dataset


def checked_params(model: type[BaseModel], raw: object) -> dict:
    """``raw`` through the trainer's model; errors keyed by field inside ``params``."""
    if not isinstance(raw, dict):
        raise serializers.ValidationError(["must be an object"])
    try:
        return model.model_validate(raw).model_dump(mode="json")
    except PydanticValidationError as exc:
        raise serializers.ValidationError(api_errors(pydantic_problems(exc), dotted)) from None


class ChainJobSerializer(serializers.Serializer):
    """What every kind after training shares. ``kind`` picks the body; ``request()`` is the job."""

    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Defaults to one made from the inputs."
    )
    compute_profile = profile_field()
    # Spec fields (as jobs.launch.file_checks names them) → request fields, for refusals of the whole job.
    spec_fields: dict[str, str] = {}
    job_kind: str

    @property
    def team(self) -> Team:
        return self.context["team"]

    def validate_compute_profile(self, value: int | None) -> ComputeProfile | None:
        return check_profile(self.team, value)

    def request(self) -> dict:
        """The launch request's name, params and inputs."""
        raise NotImplementedError

    def field_of(self, loc: tuple) -> str | None:
        head, rest = (str(loc[0]), loc[1:]) if loc else ("", ())
        if head == "params" or head in self.param_groups():
            return ".".join(["params", *map(str, rest)]) if rest else "params"
        return self.spec_fields.get(head)

    def param_groups(self) -> tuple[str, ...]:
        return ()

    def launch(self, user) -> Job:
        """The job through the launch path, which checks the rest; its refusals named by request field."""
        request = LaunchRequest.of(
            self.job_kind,
            team=self.team,
            user=user,
            profile=self.validated_data.get("compute_profile"),
            **self.request(),
        )
        try:
            return launch(request)
        except LaunchRefused as exc:
            raise serializers.ValidationError(api_errors(exc, self.field_of)) from None


class MergeInputSerializer(serializers.Serializer):
    model = serializers.IntegerField(min_value=1, help_text="A model id from GET /api/v1/models.")
    weight = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=-10,
        max_value=10,
        help_text="How much of it goes in; its meaning depends on the method's `weights` (default 1).",
    )


class MergeJobCreateSerializer(ChainJobSerializer):
    kind = serializers.ChoiceField(choices=[Job.Kind.MERGE])
    job_kind = Job.Kind.MERGE
    method = serializers.ChoiceField(
        choices=list(registry.METHODS), help_text="A merge method from GET /api/v1/methods?kind=merge."
    )
    models = MergeInputSerializer(
        many=True, min_length=1, max_length=64, help_text="The models (or LoRA adapters) to merge, in order."
    )
    base_model = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The model the others were fine-tuned from, for methods with needs_base (and adapters).",
    )
    dataset = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="greedy_soup only: held-out data to score on."
    )
    params = serializers.DictField(
        required=False,
        help_text="The method's parameters; JSON schema: GET /api/v1/methods/{name}. `gate` beside them is a "
        'promotion gate, as a training job\'s: {"metric": "eval/perplexity", "min_gain": 0.5, '
        '"max_retention_drop": 1} — measured after the merge, the merged model against the base model (else '
        "the first model); the merged model is registered only if it passes.",
    )
    golden_dataset = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text="One of the team's datasets marked golden (PATCH /api/v1/datasets/{id}) that a "
        "task-metric gate (params.gate.metric) is measured on.",
    )
    dtype = serializers.ChoiceField(choices=DTYPES, default="auto", help_text="Weights' type in the output.")
    tokenizer_source = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Where the inputs' chat templates or special tokens differ: 'base' or the index of the "
        "model (in models) whose tokenizer the result keeps. Unset, they must agree.",
    )
    spec_fields = {"models": "models", "base_model": "base_model", "base": "base_model", "model": "models"}
    spec_fields |= {"method": "method", "dataset": "dataset", "dtype": "dtype"}
    spec_fields |= {"tokenizer_source": "tokenizer_source", "golden": "golden_dataset"}

    def field_of(self, loc: tuple) -> str | None:
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            return f"models[{loc[1]}].{'weight' if loc[2:3] == ('weight',) else 'model'}"
        if loc and loc[0] == GATE:
            return dotted(("params", *loc))
        return super().field_of(loc)

    def validate_models(self, value: list[dict]) -> list[tuple[ModelAsset, float | None]]:
        found, errors = [], [{} for _ in value]
        for i, given in enumerate(value):
            try:
                found.append((model_of(self.team, given["model"]), given.get("weight")))
            except serializers.ValidationError as exc:
                errors[i] = {"model": exc.detail}
        if any(errors):
            raise serializers.ValidationError(errors)
        return found

    def validate_base_model(self, value: int | None) -> ModelAsset | None:
        return None if value is None else model_of(self.team, value)

    def validate_dataset(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_golden_dataset(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_tokenizer_source(self, value: object) -> str | int | None:
        index = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if value is None or value == "base" or index:
            return value
        raise serializers.ValidationError(f'give "base" or a model\'s index such as 0, not {value!r}')

    def validate_params(self, value: dict) -> dict:
        """The method's parameters checked; a ``gate`` beside them is checked by the launch path."""
        method = self.initial_data.get("method")
        if not isinstance(method, str) or method not in registry.METHODS:
            return value  # the method's own error says what to give
        gate = {GATE: value[GATE]} if GATE in value else {}
        rest = {k: v for k, v in value.items() if k != GATE}
        return checked_params(chain_methods.params_model(method), rest) | gate

    def validate(self, attrs: dict) -> dict:
        method = attrs["method"]
        if "params" not in attrs:
            attrs["params"] = checked_params(chain_methods.params_model(method), {})
        return attrs

    def request(self) -> dict:
        data = self.validated_data
        models = [("model", model, weight) for model, weight in data["models"]]
        if data.get("base_model"):
            models.insert(0, ("base", data["base_model"], None))
        names = " + ".join(model.name for model, _ in data["models"])
        method_params = {k: v for k, v in data["params"].items() if k != GATE}
        params = {"method": data["method"], "params": method_params}
        if GATE in data["params"]:
            params[GATE] = data["params"][GATE]
        if data["dtype"] != "auto":
            params["dtype"] = data["dtype"]
        if data.get("tokenizer_source") is not None:
            params["tokenizer_source"] = data["tokenizer_source"]
        return {
            "name": data.get("name") or f"{data['method']}: {names}"[:200],
            "params": params,
            "models": models,
            "datasets": [
                (role, data[field])
                for role, field in (("dataset", "dataset"), (GOLDEN_ROLE, "golden_dataset"))
                if data.get(field)
            ],
        }


class QuantizeJobCreateSerializer(ChainJobSerializer):
    kind = serializers.ChoiceField(choices=[Job.Kind.QUANTIZE])
    job_kind = Job.Kind.QUANTIZE
    method = serializers.ChoiceField(
        choices=list(chain_methods.QUANTIZE_METHODS), help_text="GET /api/v1/methods?kind=quantize."
    )
    model = serializers.IntegerField(
        min_value=1, help_text="A full-precision model with files on the server."
    )
    outputs = serializers.ListField(
        child=serializers.ChoiceField(choices=chain_methods.QUANTIZE_OUTPUTS),
        min_length=1,
        default=["torchao"],
        help_text="torchao: a transformers model that loads back quantized; gguf_q8_0, gguf_q4_0: GGUF; "
        "compressed_tensors: a model vLLM serves (awq_int4, gptq_int4). "
        "gguf_q4_k_m, gguf_q5_k_m, gguf_q6_k: GGUF k-quants weighted by an importance matrix.",
    )
    params = serializers.DictField(
        required=False, help_text="The method's parameters; JSON schema: GET /api/v1/methods/{name}."
    )
    calibration = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="gptq_int4, awq_int4, mixed_precision and the GGUF k-quants' importance matrix: "
        "a dataset to calibrate on.",
    )
    eval_dataset = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Held-out text for perplexity before and after; omitted: built-in passages.",
    )
    spec_fields = {"model": "model", "base": "model", "method": "method", "outputs": "outputs"}
    spec_fields |= {"calibration": "calibration", "eval_texts": "eval_dataset", "dataset": "eval_dataset"}

    def param_groups(self) -> tuple[str, ...]:
        return tuple(
            name for name, (_title, _help, params) in chain_methods.QUANTIZE_METHODS.items() if params
        )

    def validate_model(self, value: int) -> ModelAsset:
        return model_of(self.team, value)

    def validate_calibration(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_eval_dataset(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate(self, attrs: dict) -> dict:
        _title, _help, model = chain_methods.QUANTIZE_METHODS[attrs["method"]]
        try:
            attrs["params"] = checked_params(model or chain_methods.NoParams, attrs.get("params", {}))
        except serializers.ValidationError as exc:  # checked here, once the method is known
            raise serializers.ValidationError({"params": exc.detail}) from None
        return attrs

    def request(self) -> dict:
        data = self.validated_data
        datasets = [
            (role, data[key])
            for role, key in (("calibration", "calibration"), ("dataset", "eval_dataset"))
            if data.get(key)
        ]
        return {
            "name": data.get("name") or f"{data['model'].name} · {data['method']}"[:200],
            "params": {"method": data["method"], "outputs": data["outputs"], "params": data["params"]},
            "models": [("base", data["model"], None)],
            "datasets": datasets,
        }


class EvaluateJobCreateSerializer(ChainJobSerializer):
    kind = serializers.ChoiceField(choices=[Job.Kind.EVALUATE])
    job_kind = Job.Kind.EVALUATE
    base_model = serializers.IntegerField(min_value=1, help_text="The model to compare against.")
    candidate = serializers.IntegerField(min_value=1, help_text="The model you made.")
    dataset = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Held-out rows (text + label for classifiers); omitted: built-in passages (LMs only).",
    )
    harness_datasets = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=20,
        help_text="Multiple-choice datasets (question, choices, answer), each run as an "
        "lm-evaluation-harness task hone_mc_<n> on both models; params.harness names installed tasks.",
    )
    judge_model = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text="A language model that grades the two models' answers pairwise (with params.judge.rubric).",
    )
    judge_labels = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text="Preference pairs (prompt, chosen, rejected): the judge's agreement with them is reported.",
    )
    params = serializers.DictField(
        required=False,
        help_text="JSON schema: GET /api/v1/methods/evaluate (max_rows, prompts, harness, judge, ...).",
    )
    spec_fields = {"base": "base_model", "candidate": "candidate", "dataset": "dataset",
                   "judge_model": "judge_model", "judge_labels": "judge_labels"}

    def param_groups(self) -> tuple[str, ...]:
        return chain_methods.EVALUATE_FIELDS

    def field_of(self, loc: tuple) -> str | None:
        if len(loc) >= 2 and loc[0] == "harness_datasets":
            return f"harness_datasets[{loc[1]}]"
        if loc and loc[0] in chain_methods.EVALUATE_FIELDS:
            return "params." + ".".join(map(str, loc))
        return super().field_of(loc)

    def validate_harness_datasets(self, value: list[int]) -> list[Dataset]:
        return [dataset_of(self.team, pk) for pk in value]

    def validate_judge_model(self, value: int | None) -> ModelAsset | None:
        return None if value is None else model_of(self.team, value)

    def validate_judge_labels(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_base_model(self, value: int) -> ModelAsset:
        return model_of(self.team, value)

    def validate_candidate(self, value: int) -> ModelAsset:
        return model_of(self.team, value)

    def validate_dataset(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_golden_dataset(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_params(self, value: dict) -> dict:
        return checked_params(chain_methods.EvaluateParams, value)

    def validate(self, attrs: dict) -> dict:
        attrs.setdefault("params", checked_params(chain_methods.EvaluateParams, {}))
        return attrs

    def request(self) -> dict:
        data = self.validated_data
        base, candidate = data["base_model"], data["candidate"]
        return {
            "name": data.get("name") or f"{candidate.name} vs {base.name}"[:200],
            "params": data["params"],
            "models": [("base", base, None), ("candidate", candidate, None)]
            + ([("judge", data["judge_model"], None)] if data.get("judge_model") else []),
            "datasets": ([("dataset", data["dataset"])] if data.get("dataset") else [])
            + [("harness", d) for d in data.get("harness_datasets", [])]
            + ([("judge_labels", data["judge_labels"])] if data.get("judge_labels") else []),
        }
