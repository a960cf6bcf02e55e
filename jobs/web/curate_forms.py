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
    ("k_center", "Rows unlike those already picked (k-center greedy on embeddings)"),
    (
        "k_center_tfidf",
        "Rows unlike those already picked, by their words (TF-IDF: fast; for text classifiers)",
    ),
    ("cluster_balanced", "As many rows from each topic (clusters of the embeddings)"),
    ("less", "Rows that train the model toward the target set (LESS: gradients; needs the model)"),
    ("color_filter", "Rows the model learns most from once it has seen the target set (CoLoR-Filter)"),
]
# A choice of how to fill the budget → the step it becomes in params.
SELECTIONS: dict[str, tuple[str, dict]] = {
    "k_center": ("diversity", {"method": "k_center"}),
    "k_center_tfidf": ("diversity", {"method": "k_center", "features": "tfidf"}),
    "cluster_balanced": ("diversity", {"method": "cluster_balanced"}),
    "less": ("influence", {"method": "less"}),
    "color_filter": ("influence", {"method": "color_filter"}),
}
FIT_RULES = [
    ("best", "Keep the likeliest answer to each prompt, and drop the band's ends"),
    ("band", "Only drop the band's ends (every prompt keeps all its answers)"),
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
    "influence": "diversity",
    "target_set": "target_set",
    "difficulty": "difficulty",
    "languages": "languages",
    "fit": "fit",
}
# Fields a step's own settings show in, by (step, setting): names the steps share (max_tokens,
# drop_hardest_percent) would otherwise land on another step's field.
STEP_FIELDS = {
    ("fit", "drop_easiest_percent"): "fit_drop_easiest",
    ("fit", "drop_hardest_percent"): "fit_drop_hardest",
    ("fit", "max_tokens"): "fit_max_tokens",
    ("difficulty", "drop_hardest_percent"): "difficulty",
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
            "each prompt (or not: the rule below) and drops the easiest and the hardest shares below."
        ),
    )
    fit_rule = forms.ChoiceField(choices=FIT_RULES, required=False, initial="best", label="Fit: which rule")
    fit_drop_easiest = forms.FloatField(
        required=False,
        initial=10,
        min_value=0,
        label="Fit: drop the easiest (%)",
        help_text="Rows the model already writes (lowest loss): little to learn.",
    )
    fit_drop_hardest = forms.FloatField(
        required=False,
        initial=10,
        min_value=0,
        label="Fit: drop the hardest (%)",
        help_text="Rows farthest from what the model knows (highest loss): noise, garbled text.",
    )
    fit_max_tokens = forms.IntegerField(
        required=False,
        initial=512,
        min_value=1,
        label="Fit: tokens scored per row",
        help_text="Fewer is faster; the rest of a long row is not scored.",
    )
    difficulty = forms.FloatField(
        required=False,
        min_value=0,
        label="Drop the rows hardest to tell (%, classification)",
        help_text=(
            "Rows whose text reads least like their label to a cross-validated classifier; 20 helps a "
            "small budget. Blank: off."
        ),
    )
    diversity = forms.ChoiceField(
        choices=DIVERSITY_CHOICES,
        required=False,
        label="How to fill the budget",
        help_text=(
            "Embedding selections read MiniLM vectors of every row (slower); LESS and CoLoR-Filter run the "
            "model chosen above over every row and need a target set."
        ),
    )
    target_set = DatasetChoice(
        queryset=None,
        required=False,
        label="Target set",
        help_text="A few rows like those the model should get good at, of the same kind as the data.",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["datasets"].queryset = team.datasets.all()
        self.fields["eval_set"].queryset = team.datasets.all()
        self.fields["target_set"].queryset = team.datasets.all()
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
            params["fit"] = CurateForm.fit_params(cleaned)
        if cleaned.get("difficulty") is not None:
            params["difficulty"] = {"drop_hardest_percent": cleaned["difficulty"]}
        if cleaned.get("diversity") in SELECTIONS:
            step, settings = SELECTIONS[cleaned["diversity"]]
            params[step] = dict(settings)
        return params

    @staticmethod
    def fit_params(cleaned: dict) -> dict:
        fit = {"best_response_per_prompt": cleaned.get("fit_rule") != "band"}
        for key, field in (
            ("drop_easiest_percent", "fit_drop_easiest"),
            ("drop_hardest_percent", "fit_drop_hardest"),
            ("max_tokens", "fit_max_tokens"),
        ):
            if cleaned.get(field) is not None:
                fit[key] = cleaned[field]
        return fit

    def field_for(self, loc: tuple) -> str | None:
        """The field a problem is about: the last name in its place that the form shows."""
        if len(loc) >= 2 and (str(loc[0]), str(loc[1])) in STEP_FIELDS:
            return STEP_FIELDS[(str(loc[0]), str(loc[1]))]
        return next((PARAM_FIELDS[str(p)] for p in reversed(loc) if str(p) in PARAM_FIELDS), None)

    def inputs(self) -> tuple[list, list]:
        data = self.cleaned_data
        datasets = [("dataset", d) for d in data["datasets"]]
        for role, key in (("eval", "eval_set"), ("target", "target_set")):
            if data.get(key):
                datasets.append((role, data[key]))
        models = [("base", data["tokenizer"], None)] if data.get("tokenizer") else []
        return models, datasets
