"""Form fields built from pydantic models (the training catalogue's parameter groups, the spec):
each takes its default, bounds and description from the model's field; pydantic stays the judge.

The advanced form shows each field with its default filled in (``spec_field``,
``catalogue_field``); the guided set-up's advanced settings (``jobs.guided.params``) build theirs
blank from the same pieces here: labels, bounds, help text and the form value → spec value step.
"""

from __future__ import annotations

import types
import typing

import annotated_types
from django import forms
from pydantic import BaseModel
from pydantic.fields import FieldInfo

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
LIST_HELP = "Comma-separated names; blank for the default."


def label(name: str) -> str:
    return PARAM_LABELS.get(name, name.replace("_", " ").capitalize())


def shown(value: object) -> str:
    """A default as the help text and placeholders say it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return list_text(value) or "none"
    if isinstance(value, int | float):
        return _number(value)
    return "none" if value is None else str(value)


def list_text(values: list) -> str:
    """A list as its text field shows it: "q_proj, v_proj"; rewards as "math, format:0.2"."""
    return ", ".join(_item(v) for v in values)


def _item(value: object) -> str:
    """One entry of a list as its text field takes it: a reward chosen with a weight is ``name:weight``,
    one whose parameters a text carries ``classifier=42/good`` (other parameters are the API's to
    set), anything else as it is."""
    if isinstance(value, dict) and "name" in value:
        from trainers.rewards.registry import REWARDS

        reward, weight = REWARDS.get(str(value["name"])), value.get("weight", 1.0)
        params = value.get("params") or {}
        carried = reward.text_params if reward is not None else ()
        carried = carried if all(p in params for p in carried) else ()
        shown = str(value["name"]) + ("=" + "/".join(str(params[p]) for p in carried) if carried else "")
        return shown if weight == 1.0 else f"{shown}:{_number(weight)}"
    return str(value)


def field_types(annotation: object) -> list:
    """The types a field takes, None left out (``int | None`` -> [int])."""
    union = typing.get_origin(annotation) is typing.Union or isinstance(annotation, types.UnionType)
    args = typing.get_args(annotation) if union else (annotation,)
    return [a for a in args if a is not type(None)]


def is_list(annotation: object) -> bool:
    return any(typing.get_origin(kind) is list for kind in field_types(annotation))


def bounds(metadata: list) -> tuple[dict, list[str]]:
    """HTML min/max attributes and words for the bounds in a pydantic field's metadata."""
    attrs, words = {}, []
    for bound in metadata:
        for kind, attr, html_attr, word in BOUND_WORDS:
            if isinstance(bound, kind):
                value = getattr(bound, attr)
                attrs[html_attr] = value
                words.append(f"{word} {_number(value)}")
    return attrs, words


def help_text(info: FieldInfo, words: list[str] = (), extra: str = "") -> str:
    """The field's description, its bounds in words, ``extra``, and its default."""
    default = shown(info.get_default(call_default_factory=True)) or "none"
    parts = [info.description or "", f"{' and '.join(words).capitalize()}." if words else "", extra]
    return " ".join(part for part in [*parts, f"Default {default}."] if part)


def number_field(info: FieldInfo, **options) -> forms.Field:
    """An integer or decimal field with the bounds as browser hints (pydantic judges)."""
    kinds = field_types(info.annotation)
    attrs, words = bounds(info.metadata)
    is_int = int in kinds and float not in kinds
    attrs["step"] = 1 if is_int else "any"
    placeholder = options.pop("placeholder", None)
    if placeholder is not None:
        attrs["placeholder"] = placeholder
    field_class = forms.IntegerField if is_int else forms.FloatField
    return field_class(help_text=help_text(info, words), widget=forms.NumberInput(attrs=attrs), **options)


def spec_field(model: type[BaseModel], name: str) -> forms.Field:
    """A number field (or switch) whose default, bounds and help come from the spec's field ``name``.

    Blank means the default. Bounds go to the browser as hints only: pydantic is the judge.
    """
    info = model.model_fields[name]
    common = {"label": label(name), "required": False, "initial": info.default}
    if info.annotation is bool:
        return forms.BooleanField(help_text=help_text(info), **common)
    # ``int | None``: an optional setting whose blank (the default) means "not used".
    placeholder = "" if info.default is None else shown(info.default)
    return number_field(info, placeholder=placeholder, **common)


def catalogue_field(model: type[BaseModel], name: str) -> forms.Field:
    """A form field for any parameter of the catalogue: choices, names, lists, numbers, switches."""
    info = model.model_fields[name]
    if typing.get_origin(info.annotation) is typing.Literal:
        choices = [(value, value) for value in typing.get_args(info.annotation)]
        return forms.ChoiceField(
            label=label(name),
            choices=choices,
            required=False,
            initial=info.default,
            help_text=help_text(info),
        )
    if is_list(info.annotation) or info.annotation is str:
        extra = LIST_HELP if is_list(info.annotation) else "Blank for the default."
        placeholder = shown(info.get_default(call_default_factory=True))
        return forms.CharField(
            label=label(name),
            required=False,
            initial=None,
            help_text=help_text(info, extra=extra),
            widget=forms.TextInput(attrs={"placeholder": placeholder}),
        )
    return spec_field(model, name)


def spec_value(annotation: object, value: object) -> object:
    """A form value as the spec takes it: switches from "true"/"false", lists from comma-separated text."""
    if value in ("true", "false") and bool in field_types(annotation):
        return value == "true"
    if isinstance(value, str) and is_list(annotation):
        if value.strip() == "all-linear":
            return "all-linear"
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def form_value(model: type[BaseModel], name: str, value: object) -> object:
    """The advanced form's value of spec field ``name`` as the spec takes it."""
    return spec_value(model.model_fields[name].annotation, value)


class ModelChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelAsset) -> str:
        origin = "built-in" if obj.team_id is None else obj.get_source_display()
        return f"{obj.name} ({origin})"


class DatasetChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} ({obj.task}, {obj.row_count:,} rows)"
