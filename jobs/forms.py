"""Forms for the web UI. The job form's parameter fields are built from trainers.spec, which
stays the single source of defaults, bounds and descriptions; pydantic validates them."""

from __future__ import annotations

import annotated_types
from django import forms
from django.conf import settings
from pydantic import BaseModel, ValidationError

from jobs.datasets import ALLOWED_SUFFIXES
from jobs.lineage import visible_models
from jobs.models import Dataset, ModelAsset, Team
from trainers.spec import LoraParams, TrainingParams

TRAINABLE_TASKS = ("instruction", "chat", "text")

# Settings most runs leave alone; the forms fold them away.
ADVANCED_TRAINING_PARAMS = (
    "gradient_accumulation_steps",
    "warmup_ratio",
    "weight_decay",
    "eval_fraction",
    "evals_per_run",
    "checkpoints_per_run",
    "seed",
)
# Form field name -> spec field: the same names, grouped as they appear in params.
PARAM_GROUPS: dict[str, tuple[str, type[BaseModel], tuple[str, ...]]] = {
    "lora": ("LoRA adapter", LoraParams, ("r", "alpha", "dropout")),
    "training": (
        "Training",
        TrainingParams,
        ("learning_rate", "epochs", "batch_size", "max_seq_length", *ADVANCED_TRAINING_PARAMS),
    ),
}
PARAM_LABELS = {
    "r": "Rank (r)",
    "alpha": "Alpha",
    "dropout": "Dropout",
    "learning_rate": "Learning rate",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "max_seq_length": "Max sequence length (tokens)",
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "warmup_ratio": "Warm-up share",
    "weight_decay": "Weight decay",
    "eval_fraction": "Held-out share",
    "evals_per_run": "Evaluations per run",
    "checkpoints_per_run": "Checkpoints per run",
    "seed": "Random seed",
}


def _number(value: float) -> str:
    return f"{value:g}"


BOUND_WORDS = (
    (annotated_types.Ge, "ge", "min", "at least"),
    (annotated_types.Gt, "gt", "min", "more than"),
    (annotated_types.Le, "le", "max", "at most"),
    (annotated_types.Lt, "lt", "max", "less than"),
)


def _bounds(metadata: list) -> tuple[dict, list[str]]:
    """HTML min/max attributes and words for the bounds in a pydantic field's metadata."""
    attrs, words = {}, []
    for bound in metadata:
        for kind, attr, html_attr, word in BOUND_WORDS:
            if isinstance(bound, kind):
                value = getattr(bound, attr)
                attrs[html_attr] = value
                words.append(f"{word} {_number(value)}")
    return attrs, words


def spec_field(model: type[BaseModel], name: str) -> forms.Field:
    """A number field whose default, bounds and help come from the spec's field ``name``.

    Blank means the default. Bounds go to the browser as hints only: pydantic is the judge.
    """
    info = model.model_fields[name]
    if info.annotation is bool:
        return forms.BooleanField(
            label=PARAM_LABELS.get(name, name.replace("_", " ").capitalize()),
            required=False,
            initial=info.default,
            help_text=f"{info.description or ''} Default {'on' if info.default else 'off'}.".strip(),
        )
    attrs, words = _bounds(info.metadata)
    is_int = info.annotation is int
    attrs["step"] = 1 if is_int else "any"
    help_parts = [info.description or "", f"{' and '.join(words).capitalize()}." if words else ""]
    help_parts.append(f"Default {_number(info.default)}.")
    field_class = forms.IntegerField if is_int else forms.FloatField
    return field_class(
        label=PARAM_LABELS.get(name, name.replace("_", " ").capitalize()),
        required=False,
        initial=info.default,
        help_text=" ".join(part for part in help_parts if part),
        widget=forms.NumberInput(attrs=attrs | {"placeholder": _number(info.default)}),
    )


class ModelChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelAsset) -> str:
        origin = "built-in" if obj.team_id is None else obj.get_source_display()
        return f"{obj.name} ({origin})"


class DatasetChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} ({obj.task}, {obj.row_count:,} rows)"


class JobForm(forms.Form):
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave blank to name it after the model and the dataset."
    )
    base_model = ModelChoice(
        queryset=ModelAsset.objects.none(), label="Base model", help_text="The model to adapt."
    )
    dataset = DatasetChoice(
        queryset=Dataset.objects.none(),
        help_text="Instruction, chat or plain-text data of this team.",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = visible_models(team).filter(task=ModelAsset.Task.CAUSAL_LM)
        self.fields["dataset"].queryset = team.datasets.filter(task__in=TRAINABLE_TASKS)
        for _title, model, names in PARAM_GROUPS.values():
            for name in names:
                self.fields[name] = spec_field(model, name)

    def param_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, _model, names in PARAM_GROUPS.values()]

    def clean(self) -> dict:
        cleaned = super().clean()
        params = {}
        for group, (_title, model, names) in PARAM_GROUPS.items():
            given = {name: cleaned[name] for name in names if cleaned.get(name) is not None}
            try:
                params[group] = model(**given).model_dump()
            except ValidationError as exc:
                for error in exc.errors():
                    where = str(error["loc"][0]) if error["loc"] else None
                    self.add_error(where if where in names else None, error["msg"])
        cleaned["params"] = params
        if not cleaned.get("name") and cleaned.get("base_model") and cleaned.get("dataset"):
            cleaned["name"] = f"{cleaned['base_model'].name} on {cleaned['dataset'].name}"[:200]
        return cleaned


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Leave blank to use the file's name.")
    # Empty files reach the data checks, which say what a file should hold.
    file = forms.FileField(allow_empty_file=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        suffixes = sorted(ALLOWED_SUFFIXES)
        limit_mb = settings.HONE_MAX_UPLOAD_BYTES // (1024 * 1024)
        self.fields["file"].widget.attrs["accept"] = ",".join(suffixes)
        self.fields[
            "file"
        ].help_text = (
            f"{', '.join(suffixes)}; up to {limit_mb} MB. Every row is checked before anything is stored."
        )
