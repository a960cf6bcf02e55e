"""The guided job's advanced settings: one form field per parameter of the training catalogue.

Fields come from the catalogue's pydantic models (the method's own ``method_params``, the LoRA
group, the training parameters and the objective's group), so each carries its help text,
bounds and default from the one source. Every field is blank by default: blank keeps the
preset's value. Names: training and LoRA fields by their own name (``learning_rate``, ``r``),
a method's or an objective's as ``<method>__<field>`` / ``<objective>__<field>``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache

import annotated_types
from django import forms
from pydantic import BaseModel, ValidationError

from jobs.launch.types import pydantic_problems
from jobs.web.forms import PARAM_LABELS
from trainers import catalogue
from trainers.objectives.params import OBJECTIVE_PARAMS, OBJECTIVE_TITLES
from trainers.spec import LoraParams, TrainingParams

BLANK = ("", "Preset's value")
BOUNDS = (
    (annotated_types.Ge, "ge", "min", "at least"),
    (annotated_types.Gt, "gt", "min", "more than"),
    (annotated_types.Le, "le", "max", "at most"),
    (annotated_types.Lt, "lt", "max", "less than"),
)


@dataclass(frozen=True)
class ParamField:
    name: str  # the form field (and query string) name
    group: str  # the key in the job's params: "training", "lora", "method_params" or an objective
    owner: str  # the method or objective the group belongs to; "" for training and LoRA
    spec_name: str
    model: type[BaseModel]


def _group(model: type[BaseModel], group: str, owner: str, prefix: str) -> list[ParamField]:
    return [ParamField(f"{prefix}{n}", group, owner, n, model) for n in model.model_fields]


@cache
def all_fields() -> tuple[ParamField, ...]:
    found = _group(TrainingParams, "training", "", "") + _group(LoraParams, "lora", "", "")
    for method in catalogue.methods("train"):
        model = method.params.get("method_params")
        if model is not None:
            found += _group(model, "method_params", method.name, f"{method.name}__")
    for objective, model in OBJECTIVE_PARAMS.items():
        found += _group(model, objective, objective, f"{objective}__")
    return tuple(found)


def names() -> tuple[str, ...]:
    return tuple(f.name for f in all_fields())


def fields_for(method: str, objective: str) -> list[ParamField]:
    """The settings a job of ``method`` training ``objective`` reads."""
    entry = catalogue.get(method)
    keep = {"training", objective} | ({"lora"} if "lora" in entry.params else set())
    return [f for f in all_fields() if f.group in keep or (f.group == "method_params" and f.owner == method)]


def group_title(f: ParamField) -> str:
    if f.group == "training":
        return "Training"
    if f.group == "lora":
        return "LoRA adapter"
    if f.group == "method_params":
        return f"{catalogue.get(f.owner).title} settings"
    return f"{OBJECTIVE_TITLES[f.owner]} settings"


def _bounds(metadata: list) -> tuple[dict, list[str]]:
    attrs, words = {}, []
    for bound in metadata:
        for kind, attr, html, word in BOUNDS:
            if isinstance(bound, kind):
                attrs[html] = getattr(bound, attr)
                words.append(f"{word} {getattr(bound, attr):g}")
    return attrs, words


def _types(annotation: object) -> list:
    """The types a field takes, None left out (``int | None`` -> [int])."""
    union = typing.get_origin(annotation) is typing.Union or isinstance(annotation, types.UnionType)
    args = typing.get_args(annotation) if union else (annotation,)
    return [a for a in args if a is not type(None)]


def _is_list(kinds: list) -> bool:
    return any(typing.get_origin(k) is list for k in kinds)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def form_field(f: ParamField) -> forms.Field:
    info = f.model.model_fields[f.spec_name]
    label = PARAM_LABELS.get(f.spec_name, f.spec_name.replace("_", " ").capitalize())
    default = info.get_default(call_default_factory=True)
    help_text = f"{info.description or ''} Default {_shown(default)}.".strip()
    kinds = _types(info.annotation)
    literal = next((k for k in kinds if typing.get_origin(k) is typing.Literal), None)
    common = {"label": label, "required": False, "help_text": help_text}
    if _is_list(kinds) or kinds == [str]:
        widget = forms.TextInput(attrs={"placeholder": _shown(default)})
        return forms.CharField(max_length=200, widget=widget, **common)
    if literal is not None:
        values = [str(v) for v in typing.get_args(literal)]
        return forms.ChoiceField(choices=[BLANK, *[(v, v) for v in values]], **common)
    if kinds == [bool]:
        return forms.ChoiceField(choices=[BLANK, ("true", "On"), ("false", "Off")], **common)
    if int in kinds or float in kinds:
        attrs, words = _bounds(info.metadata)
        if words:
            common["help_text"] = (
                f"{info.description or ''} {' and '.join(words).capitalize()}. "
                f"Default {_shown(default)}.".strip()
            )
        is_int = int in kinds and float not in kinds
        attrs["step"] = 1 if is_int else "any"
        field_class = forms.IntegerField if is_int else forms.FloatField
        return field_class(widget=forms.NumberInput(attrs=attrs), **common)
    raise TypeError(f"{f.name}: no form field for {info.annotation}")


def spec_value(f: ParamField, value: object) -> object:
    """A form value as the spec takes it: switches from "true"/"false", lists from comma-separated text."""
    info = f.model.model_fields[f.spec_name]
    if value in ("true", "false") and bool in _types(info.annotation):
        return value == "true"
    if isinstance(value, str) and _is_list(_types(info.annotation)):
        if value.strip() == "all-linear":
            return "all-linear"
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def form_value(value: object) -> str:
    """A param's value as the form shows it (placeholders)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _shown(value) if value is not None else ""


class ParamsInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def with_overrides(params: dict, method: str, overrides: dict[str, object]) -> dict:
    """``params`` with the user's settings on top, each group validated by its catalogue model;
    ParamsInvalid names the form field of each problem."""
    objective = params.get("objective", "sft")
    fields = fields_for(method, objective)
    result, errors = dict(params), {}
    for group in dict.fromkeys(f.group for f in fields):
        members = [f for f in fields if f.group == group]
        given = {f.spec_name: spec_value(f, overrides[f.name]) for f in members if f.name in overrides}
        by_spec = {f.spec_name: f.name for f in members}
        try:
            result[group] = members[0].model(**{**params.get(group, {}), **given}).model_dump(mode="json")
        except ValidationError as exc:
            for problem in pydantic_problems(exc):
                # A check across fields has no location; its message starts with the field it is about.
                named = str(problem.loc[0]) if problem.loc else problem.message.split(" ", 1)[0]
                errors[by_spec.get(named) or group] = problem.message
    if errors:
        raise ParamsInvalid(errors)
    return result


class AdvancedForm(forms.Form):
    """The settings of the methods on the page, blank by default (blank: the preset's value)."""

    def __init__(self, *args, fields: list[ParamField], placeholders: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.params = {f.name: f for f in fields}
        for f in fields:
            field = form_field(f)
            shown = placeholders.get(f.name)
            if shown is not None and isinstance(field, forms.ChoiceField):
                word = {"true": "on", "false": "off"}.get(shown, shown)
                field.choices = [("", f"Preset's value ({word})"), *field.choices[1:]]
            elif shown is not None:
                field.widget.attrs["placeholder"] = shown
            self.fields[f.name] = field

    def overrides(self) -> dict[str, object]:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}

    def groups(self) -> list[tuple[str, list]]:
        found: dict[str, list] = {}
        for name, f in self.params.items():
            found.setdefault(group_title(f), []).append(self[name])
        return list(found.items())
