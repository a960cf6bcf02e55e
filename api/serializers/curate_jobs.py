"""Creating curate jobs through the API: ``{"kind": "curate", "datasets": [...], "params": {...}}``.

``params`` is typed by the catalogue's curate entry (``trainers.chain_methods.CurateParams``, the
trainer's own step models: GET /api/v1/methods/curate); the inputs are looked up in the caller's
team; the launch path checks the rest (one kind of data, an evaluation set of that kind, a budget).
"""

from __future__ import annotations

from rest_framework import serializers

from api.serializers.chain_jobs import ChainJobSerializer, checked_params, dataset_of, model_of
from jobs.models import Dataset, Job, ModelAsset
from trainers import chain_methods


class CurateJobCreateSerializer(ChainJobSerializer):
    kind = serializers.ChoiceField(choices=[Job.Kind.CURATE])
    job_kind = Job.Kind.CURATE
    datasets = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=16,
        help_text="Dataset ids to curate together (one kind of data); duplicates are found across them.",
    )
    eval_set = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="A dataset you evaluate on: rows that (nearly) repeat it are dropped as contamination.",
    )
    target_set = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="A few rows like those the model should get good at: the influence step ranks toward them.",
    )
    tokenizer_model = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The model the data is for: length bounds count its tokens (omitted: words).",
    )
    embedding_model = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="An encoder that embeds rows for diversity and label checks (omitted: MiniLM).",
    )
    params = serializers.DictField(
        help_text="The steps and the budget; JSON schema: GET /api/v1/methods/curate."
    )
    spec_fields = {"datasets": "datasets", "dataset": "datasets", "eval_set": "eval_set", "eval": "eval_set"}
    spec_fields |= {"target_set": "target_set", "target": "target_set"}
    spec_fields |= {"tokenizer": "tokenizer_model", "base": "tokenizer_model"}
    spec_fields |= {"embedder": "embedding_model", "model": "embedding_model"}

    def param_groups(self) -> tuple[str, ...]:
        return chain_methods.CURATE_FIELDS

    def field_of(self, loc: tuple) -> str | None:
        if len(loc) >= 2 and loc[0] == "datasets" and isinstance(loc[1], int):
            return f"datasets[{loc[1]}]"
        if loc and loc[0] in chain_methods.CURATE_FIELDS:
            return "params." + ".".join(map(str, loc))
        return super().field_of(loc)

    def validate_datasets(self, value: list[int]) -> list[Dataset]:
        found, errors = [], {}
        for i, given in enumerate(value):
            try:
                found.append(dataset_of(self.team, given))
            except serializers.ValidationError as exc:
                errors[i] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return found

    def validate_eval_set(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_target_set(self, value: int | None) -> Dataset | None:
        return dataset_of(self.team, value)

    def validate_tokenizer_model(self, value: int | None) -> ModelAsset | None:
        return None if value is None else model_of(self.team, value)

    def validate_embedding_model(self, value: int | None) -> ModelAsset | None:
        return None if value is None else model_of(self.team, value)

    def validate_params(self, value: dict) -> dict:
        return checked_params(chain_methods.CurateParams, value)

    def request(self) -> dict:
        data = self.validated_data
        datasets = [("dataset", d) for d in data["datasets"]]
        for role, key in (("eval", "eval_set"), ("target", "target_set")):
            if data.get(key):
                datasets.append((role, data[key]))
        models = [
            (role, data[key], None)
            for role, key in (("base", "tokenizer_model"), ("model", "embedding_model"))
            if data.get(key)
        ]
        names = " + ".join(d.name for d in data["datasets"])
        return {
            "name": data.get("name") or f"curate {names}"[:200],
            "params": data["params"],
            "models": models,
            "datasets": datasets,
        }
