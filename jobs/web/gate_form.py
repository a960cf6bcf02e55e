"""The promotion gate's fields on the training and merge job forms (jobs/gates.py).

Four fields: the task metric and the gain over the base it needs, the largest retention drop, and
the golden set the metric is measured on (the team's golden datasets only: a training job's
validation set, a merge's ``golden`` input). All blank means no gate. The fields build
``params.gate`` and are checked by ``GateSpec``; the launch path's problems at ``gate.<field>`` come
back next to ``gate_<field>`` (``field_of``), as every other field's do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from pydantic import ValidationError

from jobs.gates import GATE, METRICS, GateSpec
from jobs.launch.errors import FieldOf, add_to_form, train_form_field
from jobs.launch.types import Loc, pydantic_problems
from jobs.models import Dataset, Team
from jobs.web.form_fields import DatasetChoice

GATE_FIELDS = ("gate_metric", "gate_min_gain", "gate_max_retention_drop", "gate_golden")
# Where a request's input for the golden set sits, by job kind: what the golden picker sets.
GOLDEN_INPUT = {"train": "validation", "merge": "golden"}


def add_gate_fields(form: forms.Form, team: Team) -> None:
    """The gate's fields, the picker offering only ``team``'s golden datasets."""
    form.fields["gate_metric"] = forms.ChoiceField(
        label="Task metric",
        required=False,
        choices=[("", "no task-metric rule"), *((m, m) for m in METRICS)],
        help_text="What must improve over the base model, measured on the golden set. Accuracy and macro-F1 "
        "are for classifiers; loss and perplexity for text generation.",
    )
    form.fields["gate_min_gain"] = forms.FloatField(
        label="Minimum gain (points)", required=False, min_value=-100, max_value=100,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "2"}),
        help_text="How much better than the base it must be: percentage points for accuracy and macro-F1 "
        "(2 = 0.02), the metric's own units (lower) for loss and perplexity.",
    )
    form.fields["gate_max_retention_drop"] = forms.FloatField(
        label="Largest retention drop (%)", required=False, min_value=0, max_value=1000,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "1"}),
        help_text="How much worse general text may get: the rise in perplexity on Hone's retention passages "
        "(the forgetting report). Blank: no retention rule.",
    )
    form.fields["gate_golden"] = DatasetChoice(
        queryset=team.datasets.filter(golden=True), required=False, label="Golden set",
        help_text="One of your team's golden evaluation sets (mark a dataset golden on its page); the task "
        "metric is measured on it.",
    )


@dataclass(frozen=True)
class GateFieldset:
    fields: list[forms.BoundField]
    open: bool  # shown unfolded: it has a value or an error


def gate_fieldset(form: forms.Form) -> GateFieldset:
    fields = [form[name] for name in GATE_FIELDS]
    return GateFieldset(fields, any(field.errors or field.value() not in (None, "") for field in fields))


def cleaned_gate(form: forms.Form) -> dict | None:
    """``params.gate`` from the cleaned fields, checked by GateSpec (errors next to the fields), or None."""
    data = form.cleaned_data
    given = {
        "metric": data.get("gate_metric") or None,
        "min_gain": data.get("gate_min_gain"),
        "max_retention_drop": data.get("gate_max_retention_drop"),
    }
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return None
    try:
        return GateSpec.model_validate(given).model_dump(exclude_none=True)
    except ValidationError as exc:
        add_to_form(form, pydantic_problems(exc), lambda loc: field_of((GATE, *loc)))
        return None


def field_of(loc: Loc) -> str | None:
    """A launch problem about the gate as the form names it: ``gate.min_gain`` → ``gate_min_gain``."""
    if loc[:1] != (GATE,):
        return None
    return f"gate_{loc[1]}" if len(loc) > 1 and f"gate_{loc[1]}" in GATE_FIELDS else "gate_metric"


def gate_part(cleaned: dict) -> dict:
    """``{"gate": …}`` for a job's params when the form's gate fields gave one, else nothing."""
    return {GATE: cleaned["gate"]} if cleaned.get("gate") else {}


def train_field_of(method: str) -> FieldOf:
    """The training form's field for a launch problem: the gate's, the golden set (the validation
    input), else as every training door names it."""
    others = train_form_field(method)
    return lambda loc: field_of(loc) or ("gate_golden" if loc[:1] == ("validation",) else others(loc))


def initial_gate(params: dict, golden: Dataset | None) -> dict:
    """The fields' initial values from a job's ``params.gate`` and golden set (clone and edit)."""
    gate = params.get(GATE) or {}
    names = ("metric", "min_gain", "max_retention_drop")
    initial = {f"gate_{name}": gate[name] for name in names if name in gate}
    if gate and golden is not None:
        initial["gate_golden"] = golden.pk
    return initial
