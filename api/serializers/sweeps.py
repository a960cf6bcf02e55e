"""Creating a sweep through the API (``kind: "sweep"``), and how its trials read.

The body is a training job's (base model, dataset, method, objective, params: what every trial
starts from) and the search: ``space`` (places of the catalogue's parameter groups, each choices or
a range), sampler, pruner, metric and budget. The launch path checks everything (``jobs.launch``):
the space against the catalogue's own models, the budget against the team's quotas; a refusal names
its place (``space.lora.r``, ``budget.parallel``, ``params.training.learning_rate``).

An evolved merge is ``trial_kind: "merge"``: the body names a merge (``method`` a merge method,
``models`` with optional weights, ``base_model`` for TIES/DARE, ``params`` the method's), ``dataset``
the evaluation data each merged model is scored on, and the space ``models.<i>.weight`` and
``params.<field>`` (``params.density``); ``metric`` what the evaluation reports (``eval/perplexity``).
"""

from __future__ import annotations

from rest_framework import serializers

from api.serializers import chain_jobs, objectives
from api.serializers.jobs import TRAIN_METHODS
from jobs.launch.errors import dotted, train_api_field
from jobs.launch.sweep_checks import SEARCH_FIELDS
from jobs.models import Dataset, Job, ModelAsset
from trainers.merge import registry
from trainers.spec_sweep import PRUNERS, SAMPLERS, default_direction


class SweepJobCreateSerializer(chain_jobs.ChainJobSerializer):
    kind = serializers.ChoiceField(choices=[Job.Kind.SWEEP])
    job_kind = Job.Kind.SWEEP
    trial_kind = serializers.ChoiceField(
        choices=["train", "merge"],
        default="train",
        help_text="train: each trial a training job; merge: an evolved merge, each trial a merge job "
        "scored by an evaluate job on `dataset`.",
    )
    method = serializers.ChoiceField(
        choices=TRAIN_METHODS + list(registry.METHODS),
        default="lora",
        help_text="The training method trials use unless the space searches `method`; an evolved merge: "
        "its merge method (linear, ties, dare_ties…).",
    )
    objective = objectives.objective_field()
    base_model = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="A model id from GET /api/v1/models; an evolved merge: the base for TIES/DARE.",
    )
    models = chain_jobs.MergeInputSerializer(
        many=True, required=False, max_length=64, help_text="An evolved merge: the models to merge, in order."
    )
    dataset = serializers.IntegerField(
        min_value=1,
        help_text="A dataset id from GET /api/v1/datasets; an evolved merge: the evaluation data.",
    )
    params = serializers.DictField(
        required=False,
        help_text="The training job every trial starts from, as for a training job "
        '(e.g. {"training": {"epochs": 1}}); the space overrides its places.',
    )
    space = serializers.DictField(
        help_text='Place → what to try: {"choices": [...]} or {"low": ..., "high": ..., "log": true}. '
        'Places: "method" or "<group>.<field>" of the method\'s parameter groups, e.g. "lora.r", '
        '"lora.use_dora", "training.learning_rate", "dpo.beta" (GET /api/v1/methods/{name}). A choice may '
        'be a list: {"lora.target_modules": {"choices": [["q_proj", "v_proj"], "all-linear"]}}.'
    )
    sampler = serializers.ChoiceField(choices=list(SAMPLERS), default="tpe")
    pruner = serializers.ChoiceField(
        choices=list(PRUNERS), default="median", help_text="Stops losing trials from their eval metrics."
    )
    warmup_evals = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=1000,
        help_text="Evaluations of each trial the median pruner never stops at; omitted: half of "
        "training.evals_per_run.",
    )
    metric = serializers.CharField(
        default="eval/loss", max_length=100, help_text="The eval metric to optimise, e.g. eval/accuracy."
    )
    direction = serializers.ChoiceField(
        choices=["minimize", "maximize"],
        required=False,
        help_text="Omitted: minimize losses, maximize others.",
    )
    budget = serializers.DictField(
        required=False,
        help_text='{"trials": 12, "parallel": 2, "max_minutes": null, "gpu_hours": null}; parallel '
        "trials never hold more GPUs than the team's quota.",
    )
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)
    compare_preset = serializers.BooleanField(
        default=True, help_text="Also run the training job unchanged, so the best trial is compared with it."
    )

    def validate_base_model(self, value: int | None) -> ModelAsset | None:
        return None if value is None else chain_jobs.model_of(self.team, value)

    def validate_dataset(self, value: int) -> Dataset:
        return chain_jobs.dataset_of(self.team, value)

    validate_models = chain_jobs.MergeJobCreateSerializer.validate_models

    def validate(self, data: dict) -> dict:
        merges = data["trial_kind"] == "merge"
        if merges and len(data.get("models") or []) < 1:
            raise serializers.ValidationError({"models": ["required: the models an evolved merge mixes"]})
        if not merges and data.get("base_model") is None:
            raise serializers.ValidationError({"base_model": ["required: the model every trial trains"]})
        if merges != (data["method"] in registry.METHODS):
            wanted = "a merge method" if merges else "a training method"
            raise serializers.ValidationError({"method": [f"{data['method']} is not {wanted}"]})
        return data

    def request(self) -> dict:
        data = self.validated_data
        search = {name: data[name] for name in SEARCH_FIELDS if name in data}
        search.setdefault("direction", default_direction(data["metric"]))
        search["budget"] = data.get("budget") or {}
        if data["trial_kind"] == "merge":
            return self.merge_request(data, search)
        return {
            "name": data.get("name") or f"Sweep of {data['base_model'].name} on {data['dataset'].name}",
            "method": data["method"],
            "objective": data["objective"],
            "params": {"trial": data.get("params") or {}, **search},
            "models": [("base", data["base_model"], None)],
            "datasets": [("dataset", data["dataset"])],
        }

    def merge_request(self, data: dict, search: dict) -> dict:
        """An evolved merge: the merge every trial starts from, its models, base and evaluation data."""
        models = [("model", model, weight) for model, weight in data["models"]]
        base = data.get("base_model")
        trial = {"method": data["method"], "params": data.get("params") or {}}
        return {
            "name": data.get("name") or f"Evolved {data['method']} merge on {data['dataset'].name}",
            "method": data["method"],
            "params": {"trial": trial, **search},
            "models": ([("base", base, None)] if base else []) + models,
            "datasets": [("dataset", data["dataset"])],
        }

    def field_of(self, loc: tuple) -> str | None:
        """The search's places as they are in the body (``space.lora.r``); the training job's as for a
        training job (``params.training.learning_rate``); an evolved merge's as for a merge job."""
        head = str(loc[0]) if loc else ""
        if head in SEARCH_FIELDS:
            return dotted(loc)
        if self.validated_data.get("trial_kind") == "merge":
            return merge_api_field(loc[1:] if head == "trial" else loc)
        return train_api_field(loc[1:] if head == "trial" else loc)


def merge_api_field(loc: tuple) -> str | None:
    """An evolved merge's place as its body names it: ``models[1].model``, ``params.density``."""
    head = str(loc[0]) if loc else ""
    if head == "models" and len(loc) >= 2:
        return f"models[{loc[1]}].{'weight' if loc[2:3] == ('weight',) else 'model'}"
    if head in ("params", "method", "base_model", "dataset", "dtype"):
        return dotted(loc)
    return None


class TrialSerializer(serializers.Serializer):
    number = serializers.IntegerField(allow_null=True, help_text="Its Optuna trial number; null: the preset.")
    job = serializers.IntegerField(allow_null=True, help_text="Its training (or merge) job's id.")
    evaluation = serializers.IntegerField(
        allow_null=True, help_text="An evolved merge's trial: the evaluate job that scored its model."
    )
    state = serializers.CharField(
        help_text="running, complete, pruned or fail (Optuna's); preset: the job's."
    )
    value = serializers.FloatField(allow_null=True, help_text="Its final value of the sweep's metric.")
    params = serializers.DictField(help_text="Its point of the space.")
    reason = serializers.CharField(allow_blank=True)
    attempt_seconds = serializers.FloatField(help_text="Seconds its attempts ran: its compute.")


class SweepResultSerializer(serializers.Serializer):
    metric = serializers.CharField(allow_null=True, help_text="null: the job is no sweep.")
    direction = serializers.CharField(allow_null=True)
    best = TrialSerializer(allow_null=True, help_text="The best complete trial; null until one is.")
    preset = TrialSerializer(allow_null=True, help_text="The training job unchanged, run to compare with.")
    gain_over_preset = serializers.FloatField(
        allow_null=True,
        help_text="Best minus preset in the metric's units, positive when the best is better.",
    )
    importance = serializers.DictField(
        child=serializers.FloatField(), help_text="Each parameter's importance (Optuna's PED-ANOVA)."
    )
    compute_seconds = serializers.FloatField(
        help_text="Seconds the trials' attempts ran, the preset's excluded."
    )
    trials = TrialSerializer(many=True)


class SavePresetSerializer(serializers.Serializer):
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text='Omitted: "Best of <the sweep\'s name>".'
    )


class RenamePresetSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="The preset's new name, unique in the team.")


class TeamPresetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    method = serializers.CharField()
    objective = serializers.CharField()
    params = serializers.DictField(help_text="Training parameters, as a training job's params.")
    source_job = serializers.IntegerField(source="source_job_id", allow_null=True)
    metric = serializers.CharField(allow_blank=True)
    value = serializers.FloatField(allow_null=True, help_text="The metric its source job reached.")
    created_at = serializers.DateTimeField()
