"""Form fields built from pydantic models (the training catalogue's parameter groups, the spec):
each takes its default, bounds and description from the model's field; pydantic stays the judge."""

from __future__ import annotations

import typing

import annotated_types
from django import forms
from pydantic import BaseModel

from jobs.models import Dataset, ModelAsset

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
    "beta": "Beta (β)",
    "simpo_gamma": "Target margin (γ)",
}


def _number(value: float) -> str:
    """A bound or default as people write it: 1,048,576 rather than 1.04858e+06."""
    if float(value).is_integer() and abs(value) >= 10_000:
        return f"{int(value):,}"
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
    # ``int | None``: an optional setting whose blank (the default) means "not used".
    kinds = [t for t in typing.get_args(info.annotation) if t is not type(None)] or [info.annotation]
    is_int = kinds[0] is int
    attrs["step"] = 1 if is_int else "any"
    shown = "none" if info.default is None else _number(info.default)
    help_parts = [info.description or "", f"{' and '.join(words).capitalize()}." if words else ""]
    help_parts.append(f"Default {shown}.")
    field_class = forms.IntegerField if is_int else forms.FloatField
    return field_class(
        label=PARAM_LABELS.get(name, name.replace("_", " ").capitalize()),
        required=False,
        initial=info.default,
        help_text=" ".join(part for part in help_parts if part),
        widget=forms.NumberInput(attrs=attrs | {"placeholder": "" if info.default is None else shown}),
    )


class ModelChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelAsset) -> str:
        origin = "built-in" if obj.team_id is None else obj.get_source_display()
        return f"{obj.name} ({origin})"


class DatasetChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} ({obj.task}, {obj.row_count:,} rows)"


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


def form_value(model: type[BaseModel], name: str, value: object) -> object:
    """The form's value as the spec takes it: lists from comma-separated text."""
    if isinstance(value, str) and _is_list(model.model_fields[name].annotation):
        if value.strip() == "all-linear":
            return "all-linear"
        return [part.strip() for part in value.split(",") if part.strip()]
    return value
