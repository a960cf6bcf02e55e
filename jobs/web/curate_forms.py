"""The "Curate…" form: which datasets, how much to keep, and each step in plain words.

The step settings become the job's ``params`` exactly as the API takes them and are checked by
the same model (``trainers.chain_methods.CurateParams``); the launch path checks the rest.
"""

from __future__ import annotations

from django import forms
from pydantic import ValidationError

from jobs.launch.types import pydantic_problems
from jobs.models import Dataset, ModelAsset, Team
from jobs.web.form_fields import DatasetChoice, ModelChoice
from trainers import chain_methods

LABEL_CHOICES = [
    ("", "Leave labels as they are"),
    ("list", "Find rows whose label looks wrong, and only list them"),
    ("drop", "Find rows whose label looks wrong, and drop them"),
    ("relabel", "Find rows whose label looks wrong, and correct the label"),
]
DIVERSITY_CHOICES = [
    ("", "A random sample"),
    ("k_center", "Rows unlike those already picked (k-center greedy)"),
    ("cluster_balanced", "As many rows from each topic (clusters of the embeddings)"),
]
# A problem's place in params → the form field that shows it.
PARAM_FIELDS = {
    "budget": "keep_percent",
    "keep_percent": "keep_percent",
    "keep_rows": "keep_rows",
    "threshold": "near_threshold",
    "min_tokens": "min_tokens",
    "max_tokens": "max_tokens",
    "max_repetition": "max_repetition",
    "labels": "labels",
    "dedup": "dedup",
    "datasets": "datasets",
    "eval_set": "eval_set",
    "tokenizer": "tokenizer",
    "diversity": "diversity",
    "languages": "languages",
    "fit": "fit",
}


class DatasetsChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} ({obj.task}, {obj.row_count:,} rows)"


class CurateForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Blank: named after the datasets.")
    datasets = DatasetsChoice(queryset=Dataset.objects.none(), help_text="One or more, of one kind of data.")
    keep_percent = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Keep this share (%)",
        help_text="For example 30. 100 keeps everything the steps below do not drop.",
    )
    keep_rows = forms.IntegerField(required=False, min_value=1, label="…or keep this many rows")
    dedup = forms.BooleanField(
        required=False, initial=True, label="Drop repeated rows (exact and near copies)"
    )
    near_threshold = forms.FloatField(
        required=False,
        initial=0.8,
        min_value=0.3,
        max_value=1.0,
        label="How alike is a near copy",
        help_text="Share of 3-word phrases two rows have in common; 0.8 catches light rewording.",
    )
    eval_set = DatasetChoice(
        queryset=None,
        required=False,
        label="Evaluation set",
        help_text="Rows also in here are dropped as contamination, so your scores stay honest.",
    )
    quality = forms.BooleanField(required=False, initial=True, label="Drop low-quality rows")
    min_tokens = forms.IntegerField(required=False, min_value=0, label="Shortest row (tokens)")
    max_tokens = forms.IntegerField(required=False, min_value=1, label="Longest row (tokens)")
    max_repetition = forms.FloatField(
        required=False,
        initial=0.5,
        min_value=0,
        max_value=1,
        label="Most repetition allowed",
        help_text="Share of 3-word phrases that repeat; 0.5 drops text that loops.",
    )
    drop_truncated = forms.BooleanField(required=False, label="Drop answers that stop mid-sentence")
    languages = forms.CharField(
        required=False,
        max_length=200,
        label="Keep only these languages",
        help_text="Codes separated by commas, for example en, de; blank keeps every language.",
    )
    tokenizer = ModelChoice(
        queryset=ModelAsset.objects.none(),
        required=False,
        label="Count tokens as this model does",
        help_text="The model you will train; blank counts words.",
    )
    labels = forms.ChoiceField(choices=LABEL_CHOICES, required=False, label="Labels (classification data)")
    fit = forms.BooleanField(
        required=False,
        label="Drop rows the model finds trivial or alien",
        help_text=(
            "Scores each answer by its loss under the model chosen above: keeps the likeliest answer to "
            "each prompt, drops the easiest and the hardest 10 %."
        ),
    )
    diversity = forms.ChoiceField(
        choices=DIVERSITY_CHOICES,
        required=False,
        label="How to fill the budget",
        help_text="Varied selections read MiniLM embeddings of every row (slower).",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["datasets"].queryset = team.datasets.all()
        self.fields["eval_set"].queryset = team.datasets.all()
        self.fields["tokenizer"].queryset = (
            ModelAsset.objects.visible_to(team).filter(format=ModelAsset.Format.TRANSFORMERS).exclude(path="")
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        raw = self.params(cleaned)
        try:
            cleaned["params"] = chain_methods.CurateParams.model_validate(raw).model_dump(
                mode="json", exclude_none=True
            )
        except ValidationError as exc:
            for problem in pydantic_problems(exc):
                self.add_error(self.field_for(problem.loc), problem.message)
        datasets = cleaned.get("datasets") or []
        if not cleaned.get("name") and datasets:
            cleaned["name"] = ("curate " + " + ".join(d.name for d in datasets))[:200]
        return cleaned

    @staticmethod
    def params(cleaned: dict) -> dict:
        budget = {k: cleaned.get(k) for k in ("keep_percent", "keep_rows") if cleaned.get(k) is not None}
        params: dict = {"budget": budget}
        if cleaned.get("dedup"):
            params["dedup"] = {"threshold": cleaned.get("near_threshold") or 0.8}
        if cleaned.get("quality"):
            quality = {k: cleaned.get(k) for k in ("min_tokens", "max_tokens", "max_repetition")}
            params["quality"] = quality | {"drop_truncated": bool(cleaned.get("drop_truncated"))}
            if codes := [c.strip() for c in (cleaned.get("languages") or "").split(",") if c.strip()]:
                params["quality"]["languages"] = codes
        if cleaned.get("labels"):
            params["labels"] = {"action": cleaned["labels"]}
        if cleaned.get("fit"):
            params["fit"] = {}
        if cleaned.get("diversity"):
            params["diversity"] = {"method": cleaned["diversity"]}
        return params

    def field_for(self, loc: tuple) -> str | None:
        """The field a problem is about: the last name in its place that the form shows."""
        return next((PARAM_FIELDS[str(p)] for p in reversed(loc) if str(p) in PARAM_FIELDS), None)

    def inputs(self) -> tuple[list, list]:
        data = self.cleaned_data
        datasets = [("dataset", d) for d in data["datasets"]]
        if data.get("eval_set"):
            datasets.append(("eval", data["eval_set"]))
        models = [("base", data["tokenizer"], None)] if data.get("tokenizer") else []
        return models, datasets
