"""The form that starts a merge of several models (TIES, DARE, SLERP, task arithmetic, soups...).

The method is chosen first (``?method=ties``); its parameter fields are then built from its own
pydantic model in the merge registry (trainers/merge/registry.py), which stays the single source
of defaults, bounds and help. Models are picked from a table, each with an optional weight.
"""

from __future__ import annotations

import typing

from django import forms
from pydantic import ValidationError

from jobs.launch.errors import add_to_form
from jobs.launch.types import pydantic_problems
from jobs.models import Dataset, ModelAsset, Team
from jobs.web import gate_form
from jobs.web.forms import DatasetChoice, ModelChoice, spec_field
from trainers import chain_methods
from trainers.merge import registry
from trainers.merge.method import MergeMethod

DEFAULT_METHOD = "linear"
# Settings most merges leave alone; the page folds them away.
ADVANCED_PARAMS = {
    "normalize",
    "scaling",
    "seed",
    "rescale",
    "svd_rank",
    "majority_sign_method",
    "max_length",
}
WEIGHT_HELP = {
    "proportions": "Mixing proportions (≥ 0); blank counts as 1. They must sum to 1 unless normalize is on.",
    "signed": "How much of each model's changes to add; negative subtracts. Blank counts as 1.",
    "none": "This method takes no weights.",
}


def merge_method(name: str | None) -> MergeMethod:
    return registry.METHODS.get(name or "", registry.METHODS[DEFAULT_METHOD])


def mergeable_models(team: Team):
    """Full-precision models and LoRA adapters with files on the server, built-in or the team's."""
    return (
        ModelAsset.objects.visible_to(team)
        .exclude(path="")
        .exclude(format=ModelAsset.Format.GGUF)
        .filter(quantization="")
        .select_related("adapter_base", "produced_by")
    )


def param_field(model, name: str) -> forms.Field:
    """A form field for one parameter: a choice for a Literal, otherwise the spec's number/bool field."""
    info = model.model_fields[name]
    if typing.get_origin(info.annotation) is typing.Literal:
        choices = [(value, str(value).replace("_", " ")) for value in typing.get_args(info.annotation)]
        return forms.ChoiceField(
            choices=choices,
            initial=info.default,
            label=name.replace("_", " ").capitalize(),
            help_text=info.description or "",
        )
    return spec_field(model, name)


class MergeForm(forms.Form):
    method = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave blank to name it after the inputs."
    )
    models = forms.ModelMultipleChoiceField(
        queryset=ModelAsset.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Pick the models (or LoRA adapters) to merge.",
    )
    base_model = ModelChoice(
        queryset=ModelAsset.objects.none(),
        required=False,
        label="Base model",
        help_text="The model the others were fine-tuned from (adapters are folded into it).",
    )
    dataset = DatasetChoice(
        queryset=Dataset.objects.none(),
        required=False,
        label="Held-out data",
        help_text="Each candidate soup is scored on it; the model joins only if perplexity improves.",
    )
    dtype = forms.ChoiceField(
        choices=[(d, d) for d in ("auto", "float32", "float16", "bfloat16")],
        initial="auto",
        label="Output weights' type",
        help_text="auto keeps the inputs' type.",
    )
    tokenizer_source = forms.CharField(
        required=False,
        max_length=8,
        label="Tokenizer from",
        help_text="Where the inputs' chat templates or special tokens differ: 'base', or the position "
        "(0 for the first) of the model whose tokenizer the result keeps.",
    )

    def __init__(self, *args, team: Team, method: MergeMethod, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.method = method
        self.params_model = chain_methods.params_model(method.name)
        candidates = mergeable_models(team)
        self.fields["models"].queryset = candidates
        self.fields["base_model"].queryset = candidates.filter(format=ModelAsset.Format.TRANSFORMERS)
        self.fields["base_model"].required = method.needs_base
        self.fields["dataset"].queryset = team.datasets.filter(task__in=("text", "instruction", "chat"))
        self.fields["dataset"].required = method.name == "greedy_soup"
        self.param_names = list(self.params_model.model_fields)
        for name in self.param_names:
            self.fields[name] = param_field(self.params_model, name)
        gate_form.add_gate_fields(self, team)
        self.initial.setdefault("method", method.name)

    def weight_key(self, model: ModelAsset) -> str:
        return f"weight_{model.pk}"

    def model_rows(self) -> list[dict]:
        """One row per candidate model: whether it is picked and its weight, as posted or preselected."""
        picked = {str(pk) for pk in (self["models"].value() or [])}
        source = self.data if self.is_bound else self.initial.get("weights", {})
        return [
            {
                "model": model,
                "checked": str(model.pk) in picked,
                "weight_name": self.weight_key(model),
                "weight": source.get(self.weight_key(model), ""),
            }
            for model in self.fields["models"].queryset
        ]

    def gate_fields(self) -> gate_form.GateFieldset:
        return gate_form.gate_fieldset(self)

    def main_params(self) -> list[forms.BoundField]:
        return [self[n] for n in self.param_names if n not in ADVANCED_PARAMS]

    def advanced_params(self) -> list[forms.BoundField]:
        return [self[n] for n in self.param_names if n in ADVANCED_PARAMS]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("models") is not None:  # in the order posted (the table's), not the queryset's
            order = {pk: i for i, pk in enumerate(self.data.getlist("models"))}
            cleaned["models"] = sorted(cleaned["models"], key=lambda m: order.get(str(m.pk), len(order)))
        cleaned["weights"] = [self._weight(model) for model in cleaned.get("models", [])]
        given = {n: cleaned[n] for n in self.param_names if cleaned.get(n) not in (None, "")}
        try:
            cleaned["params"] = self.params_model.model_validate(given).model_dump(mode="json")
        except ValidationError as exc:
            add_to_form(self, pydantic_problems(exc), lambda loc: str(loc[0]) if loc else None)
        cleaned["gate"] = gate_form.cleaned_gate(self)  # measured after the merge (jobs/gates.py)
        models = cleaned.get("models") or []
        if not cleaned.get("name") and models:
            cleaned["name"] = f"{self.method.title}: {' + '.join(m.name for m in models)}"[:200]
        return cleaned

    def clean_tokenizer_source(self) -> str | int | None:
        raw = (self.cleaned_data.get("tokenizer_source") or "").strip()
        if not raw:
            return None
        if raw == "base" or raw.isdigit():
            return raw if raw == "base" else int(raw)
        raise forms.ValidationError(f"give 'base' or a model's position such as 0, not {raw!r}")

    def _weight(self, model: ModelAsset) -> float | None:
        raw = (self.data.get(self.weight_key(model)) or "").strip()
        if not raw:
            return None
        try:
            return float(raw)
        except ValueError:
            self.add_error("models", f"the weight of {model.name} must be a number, not {raw!r}")
            return None

    def job_request(self) -> dict:
        """The launch request's name, params and inputs for the cleaned form (``jobs.launch``)."""
        data = self.cleaned_data
        models = [("model", m, w) for m, w in zip(data["models"], data["weights"], strict=True)]
        if data.get("base_model"):
            models.insert(0, ("base", data["base_model"], None))
        params = {"method": self.method.name, "params": data["params"]}
        if data.get("dtype", "auto") != "auto":
            params["dtype"] = data["dtype"]
        if data.get("tokenizer_source") is not None:
            params["tokenizer_source"] = data["tokenizer_source"]
        params |= gate_form.gate_part(data)
        datasets = [("dataset", data["dataset"])] if data.get("dataset") else []
        if data.get("gate_golden"):
            datasets.append((gate_form.GOLDEN_INPUT["merge"], data["gate_golden"]))
        return {"name": data["name"], "params": params, "models": models, "datasets": datasets}

    def field_for(self, loc: tuple) -> str | None:
        """The form field a refused launch's problem (``jobs.launch.types.Problem``) is about."""
        head = str(loc[0]) if loc else ""
        if found := gate_form.field_of(loc) or ("gate_golden" if head == "golden" else None):
            return found
        if head == "params" and len(loc) > 1 and str(loc[1]) in self.fields:
            return str(loc[1])
        if head in ("models", "model"):
            return "models"
        if head in ("base_model", "base"):
            return "base_model"
        return head if head in ("dataset", "dtype", "tokenizer_source") else None
