"""The guided job's advanced settings: one form field per parameter of the training catalogue.

Fields come from the catalogue's pydantic models (the method's own ``method_params``, the LoRA
group, the training parameters and the objective's group), so each carries its help text,
bounds and default from the one source. Every field is blank by default: blank keeps the
preset's value. Names: training and LoRA fields by their own name (``learning_rate``, ``r``),
a method's or an objective's as ``<method>__<field>`` / ``<objective>__<field>``; the parallelism
strategy (``params.distributed.strategy``) as ``strategy``, offered only on a profile of several
processes.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache

from django import forms
from pydantic import BaseModel, ValidationError

from jobs.launch.types import pydantic_problems
from jobs.web import form_fields
from jobs.web.form_fields import field_types, help_text, is_list, label, number_field, shown
from trainers import catalogue
from trainers.distributed import StrategyChoice
from trainers.objectives.params import OBJECTIVE_PARAMS, OBJECTIVE_TITLES
from trainers.spec import LoraParams, TrainingParams

BLANK = ("", "Preset's value")


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
    return tuple(found) + tuple(_group(StrategyChoice, "distributed", "", ""))


def names() -> tuple[str, ...]:
    return tuple(f.name for f in all_fields())


def fields_for(method: str, objective: str, *, several_processes: bool = False) -> list[ParamField]:
    """The settings a job of ``method`` training ``objective`` reads; ``several_processes``: its
    profile runs more than one process, so how they share the model is a choice too."""
    entry = catalogue.get(method)
    keep = {"training", objective} | ({"lora"} if "lora" in entry.params else set())
    keep |= {"distributed"} if several_processes else set()
    return [f for f in all_fields() if f.group in keep or (f.group == "method_params" and f.owner == method)]


def group_title(f: ParamField) -> str:
    if f.group == "training":
        return "Training"
    if f.group == "lora":
        return "LoRA adapter"
    if f.group == "distributed":
        return "Several processes"
    if f.group == "method_params":
        return f"{catalogue.get(f.owner).title} settings"
    return f"{OBJECTIVE_TITLES[f.owner]} settings"


def form_field(f: ParamField) -> forms.Field:
    info = f.model.model_fields[f.spec_name]
    kinds = field_types(info.annotation)
    literal = next((k for k in kinds if typing.get_origin(k) is typing.Literal), None)
    common = {"label": label(f.spec_name), "required": False}
    if is_list(info.annotation) or kinds == [str]:
        widget = forms.TextInput(attrs={"placeholder": shown(info.get_default(call_default_factory=True))})
        return forms.CharField(max_length=200, widget=widget, help_text=help_text(info), **common)
    if literal is not None:
        values = [str(v) for v in typing.get_args(literal)]
        return forms.ChoiceField(
            choices=[BLANK, *[(v, v) for v in values]], help_text=help_text(info), **common
        )
    if kinds == [bool]:
        choices = [BLANK, ("true", "On"), ("false", "Off")]
        return forms.ChoiceField(choices=choices, help_text=help_text(info), **common)
    if int in kinds or float in kinds:
        return number_field(info, **common)
    raise TypeError(f"{f.name}: no form field for {info.annotation}")


def spec_value(f: ParamField, value: object) -> object:
    """A form value as the spec takes it (``form_fields.spec_value``)."""
    return form_fields.spec_value(f.model.model_fields[f.spec_name].annotation, value)


def form_value(value: object) -> str:
    """A param's value as the form shows it (placeholders)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return shown(value) if value is not None else ""


class ParamsInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def with_overrides(params: dict, method: str, overrides: dict[str, object]) -> dict:
    """``params`` with the user's settings on top, each group validated by its catalogue model;
    ParamsInvalid names the form field of each problem."""
    objective = params.get("objective", "sft")
    fields = fields_for(method, objective, several_processes="strategy" in overrides)
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
