"""Forms for the web UI. The job form's parameter fields are built from the training catalogue
(trainers/catalogue.py: each method's pydantic parameter groups), which stays the single source of
defaults, bounds and descriptions; pydantic validates them."""

from __future__ import annotations

import typing
from dataclasses import dataclass

import annotated_types
from django import forms
from django.conf import settings
from pydantic import BaseModel, ValidationError

from jobs.datasets import ALLOWED_SUFFIXES
from jobs.lineage import visible_models
from jobs.models import Dataset, ModelAsset, Team
from trainers import catalogue
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


# The LoRA family's options most runs leave alone: folded away under the adapter's main settings.
ADVANCED_LORA_PARAMS = ("use_rslora", "use_dora", "init")
MAIN_METHOD_PARAMS = 2  # a method's first settings show; the rest fold away
LIST_HELP = "Comma-separated names; blank for the default."


def _is_list(annotation: object) -> bool:
    return any(typing.get_origin(arg) is list for arg in (annotation, *typing.get_args(annotation)))


def catalogue_field(model: type[BaseModel], name: str) -> forms.Field:
    """A form field for any parameter of the catalogue: choices, names, lists, numbers, switches."""
    info = model.model_fields[name]
    label = PARAM_LABELS.get(name, name.replace("_", " ").capitalize())
    if typing.get_origin(info.annotation) is typing.Literal:
        choices = [(value, value) for value in typing.get_args(info.annotation)]
        help_text = f"{info.description or ''} Default {info.default}.".strip()
        return forms.ChoiceField(
            label=label, choices=choices, required=False, initial=info.default, help_text=help_text
        )
    if _is_list(info.annotation) or info.annotation is str:
        default = info.get_default(call_default_factory=True)
        shown = ", ".join(default) if isinstance(default, list) else (default or "none")
        extra = LIST_HELP if _is_list(info.annotation) else "Blank for the default."
        return forms.CharField(
            label=label,
            required=False,
            initial=None,
            help_text=f"{info.description or ''} {extra} Default {shown or 'none'}.".strip(),
            widget=forms.TextInput(attrs={"placeholder": shown}),
        )
    return spec_field(model, name)


def _form_value(model: type[BaseModel], name: str, value: object) -> object:
    """The form's value as the spec takes it: lists from comma-separated text."""
    if isinstance(value, str) and _is_list(model.model_fields[name].annotation):
        if value.strip() == "all-linear":
            return "all-linear"
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


@dataclass(frozen=True)
class MethodGroup:
    """Settings of one or more methods: a parameter group (``lora`` or ``method_params``)."""

    key: str
    title: str
    methods: tuple[str, ...]  # the methods that read it
    model: type[BaseModel]
    fields: tuple[tuple[str, str], ...]  # (form field name, spec field name)
    advanced: tuple[str, ...]  # form field names folded away


def method_groups() -> list[MethodGroup]:
    """The form's method settings, from the catalogue: the LoRA family's shared group, then each
    method's own ``method_params`` (named ``<method>__<field>`` in the form)."""
    train = catalogue.methods("train")
    lora_names = ("r", "alpha", "dropout", *ADVANCED_LORA_PARAMS)
    family = tuple(m.name for m in train if "lora" in m.params)
    groups = [
        MethodGroup(
            "lora",
            "LoRA adapter",
            family,
            LoraParams,
            tuple((n, n) for n in lora_names),
            ADVANCED_LORA_PARAMS,
        )
    ]
    for method in train:
        model = method.params.get("method_params")
        if model is None:
            continue
        fields = tuple((f"{method.name}__{name}", name) for name in model.model_fields)
        advanced = tuple(form_name for form_name, _ in fields[MAIN_METHOD_PARAMS:])
        groups.append(
            MethodGroup("method_params", f"{method.title} settings", (method.name,), model, fields, advanced)
        )
    return groups


def group_for(key: str, method: str) -> MethodGroup | None:
    return next((g for g in method_groups() if g.key == key and method in g.methods), None)


def form_spec_names(key: str, method: str) -> set[str]:
    """The spec fields of ``method``'s group ``key`` that the job form has fields for."""
    if key in PARAM_GROUPS and key != "lora":
        return set(PARAM_GROUPS[key][2])
    group = group_for(key, method)
    return {spec_name for _form_name, spec_name in group.fields} if group else set()


def initial_from_params(method: str, params: dict) -> dict:
    """Form initial values from a job's method and params (clone and edit)."""
    initial: dict = {"method": method}
    for key, values in params.items():
        group = group_for(key, method) if key != "training" else None
        names = group.fields if group else [(n, n) for n in PARAM_GROUPS.get(key, ("", None, ()))[2]]
        for form_name, spec_name in names:
            if spec_name in (values or {}):
                value = values[spec_name]
                initial[form_name] = ", ".join(value) if isinstance(value, list) else value
    return initial


@dataclass(frozen=True)
class Fieldset:
    """One card of the job form: its fields, those folded away, and which methods it is for."""

    title: str
    methods: str  # space-separated method names, or "" for every method
    fields: list
    advanced: list

    @property
    def advanced_has_errors(self) -> bool:
        return any(field.errors for field in self.advanced)


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
    method = forms.ChoiceField(
        choices=[(m.name, m.title) for m in catalogue.methods("train")],
        initial="lora",
        required=False,
        help_text="How the model learns. LoRA suits most runs; every method says what it does below.",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = visible_models(team).filter(task=ModelAsset.Task.CAUSAL_LM)
        self.fields["dataset"].queryset = team.datasets.filter(task__in=TRAINABLE_TASKS)
        for group in method_groups():
            for form_name, spec_name in group.fields:
                self.fields.setdefault(form_name, catalogue_field(group.model, spec_name))
        for name in PARAM_GROUPS["training"][2]:
            self.fields[name] = spec_field(TrainingParams, name)

    def methods(self) -> list[dict]:
        """Each training method's name, title, one-line description and paper, for the page."""
        return [
            {
                "name": m.name,
                "title": m.title,
                "description": m.description,
                "paper": m.paper,
                "needs_cuda": m.needs_cuda,
            }
            for m in catalogue.methods("train")
        ]

    def param_groups(self) -> list[Fieldset]:
        sets = [
            Fieldset(
                group.title,
                " ".join(group.methods),
                [self[f] for f, _ in group.fields if f not in group.advanced],
                [self[f] for f in group.advanced],
            )
            for group in method_groups()
        ]
        training = PARAM_GROUPS["training"][2]
        sets.append(
            Fieldset(
                "Training",
                "",
                [self[n] for n in training if n not in ADVANCED_TRAINING_PARAMS],
                [self[n] for n in training if n in ADVANCED_TRAINING_PARAMS],
            )
        )
        return sets

    def clean(self) -> dict:
        cleaned = super().clean()
        method = catalogue.METHODS.get(cleaned.get("method") or "lora")
        if method is None:
            return cleaned  # the method field carries its own error
        cleaned["method"] = method.name
        params = {}
        for key, model in method.params.items():
            group = group_for(key, method.name)
            names = group.fields if group else tuple((n, n) for n in PARAM_GROUPS[key][2])
            given = {
                spec_name: _form_value(model, spec_name, cleaned[form_name])
                for form_name, spec_name in names
                if cleaned.get(form_name) not in (None, "")
            }
            try:
                params[key] = model(**given).model_dump(mode="json")
            except ValidationError as exc:
                by_spec_name = {spec_name: form_name for form_name, spec_name in names}
                for error in exc.errors():
                    where = by_spec_name.get(str(error["loc"][0])) if error["loc"] else None
                    self.add_error(where, error["msg"])
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


def group_title(key: str, method: str) -> str:
    """How a job page names one of its parameter groups."""
    if key == "method_params" and method in catalogue.METHODS:
        return f"{catalogue.get(method).title} settings"
    return PARAM_GROUPS[key][0] if key in PARAM_GROUPS else key


def method_label(job_kind: str, method: str) -> str | None:
    """A training job's method as people read it ("LoRA+"), or None for other kinds of job."""
    return catalogue.get(method).title if job_kind == "train" and method in catalogue.METHODS else None
