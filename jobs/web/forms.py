"""Forms for the web UI. The job form's parameter fields are built from the training catalogue
(trainers/catalogue.py: each method's and each objective's pydantic parameter groups), which stays
the single source of defaults, bounds and descriptions; pydantic validates them."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings
from pydantic import BaseModel, ValidationError

from jobs.data.datasets import ALLOWED_SUFFIXES
from jobs.launch.errors import add_to_form
from jobs.launch.types import pydantic_problems
from jobs.models import Dataset, ModelAsset, Team
from jobs.web.form_fields import PARAM_LABELS as PARAM_LABELS
from jobs.web.form_fields import (
    DatasetChoice,
    ModelChoice,
    catalogue_field,
    form_value,
    list_text,
    spec_field,
)
from jobs.web.gate_form import GateFieldset, add_gate_fields, cleaned_gate, gate_fieldset
from trainers import catalogue, distributed
from trainers.objectives.params import (
    OBJECTIVE_PARAMS,
    OBJECTIVE_TASKS,
    OBJECTIVE_TITLES,
    either,
)
from trainers.spec import LoraParams, TrainingParams

DEFAULT_OBJECTIVE = "sft"  # a job whose params name no objective (every job before objectives)
# Every dataset task some objective learns from, in the objectives' order.
TRAINABLE_TASKS = tuple(dict.fromkeys(task for tasks in OBJECTIVE_TASKS.values() for task in tasks))

# Settings most runs leave alone; the forms fold them away.
ADVANCED_TRAINING_PARAMS = (
    "gradient_accumulation_steps",
    "warmup_ratio",
    "weight_decay",
    "eval_fraction",
    "evals_per_run",
    "checkpoints_per_run",
    "seed",
    # Speed and memory (trainers/packing.py), checkpoints and early stopping.
    "group_by_length",
    "max_batch_tokens",
    "packing",
    "gradient_checkpointing",
    "save_every_steps",
    "keep_checkpoints",
    "early_stopping_patience",
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
# The LoRA family's options most runs leave alone: folded away under the adapter's main settings.
ADVANCED_LORA_PARAMS = ("use_rslora", "use_dora", "init")
MAIN_METHOD_PARAMS = 2  # a method's first settings show; the rest fold away


@dataclass(frozen=True)
class MethodGroup:
    """Settings of one or more methods (``lora``, ``method_params``) or of one objective (``dpo``)."""

    key: str  # the group's key in a job's params
    title: str
    methods: tuple[str, ...]  # the methods that read it; () for an objective's group
    model: type[BaseModel]
    fields: tuple[tuple[str, str], ...]  # (form field name, spec field name)
    advanced: tuple[str, ...]  # form field names folded away


def _named_fields(prefix: str, model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}__{name}", name) for name in model.model_fields)


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
        fields = _named_fields(method.name, model)
        advanced = tuple(form_name for form_name, _ in fields[MAIN_METHOD_PARAMS:])
        groups.append(
            MethodGroup("method_params", f"{method.title} settings", (method.name,), model, fields, advanced)
        )
    return groups


def objective_groups() -> list[MethodGroup]:
    """Each objective's own parameters (trainers/objectives/params.py), named ``<objective>__<field>``
    in the form and kept in a job's params under the objective's name, as the spec takes them."""
    groups = []
    for objective, model in OBJECTIVE_PARAMS.items():
        fields = _named_fields(objective, model)
        advanced = tuple(form_name for form_name, _ in fields[MAIN_METHOD_PARAMS:])
        title = f"{OBJECTIVE_TITLES[objective]} settings"
        groups.append(MethodGroup(objective, title, (), model, fields, advanced))
    return groups


def group_for(key: str, method: str) -> MethodGroup | None:
    if key in OBJECTIVE_PARAMS:
        return next(g for g in objective_groups() if g.key == key)
    return next((g for g in method_groups() if g.key == key and method in g.methods), None)


def group_fields(key: str, method: str) -> tuple[tuple[str, str], ...]:
    """(form field name, spec field name) of ``method``'s (or an objective's) group ``key``."""
    if key == "distributed":  # params.distributed.strategy: the form's "strategy"
        return (("strategy", "strategy"),)
    group = group_for(key, method) if key != "training" else None
    return group.fields if group else tuple((n, n) for n in PARAM_GROUPS.get(key, ("", None, ()))[2])


def form_spec_names(key: str, method: str) -> set[str]:
    """The spec fields of ``method``'s group ``key`` that the job form has fields for."""
    return {spec_name for _form_name, spec_name in group_fields(key, method)}


def initial_from_params(method: str, objective: str, params: dict) -> dict:
    """Form initial values from a job's method, objective and params (clone and edit)."""
    initial: dict = {"method": method, "objective": objective or DEFAULT_OBJECTIVE}
    for key, values in params.items():
        if not isinstance(values, dict):
            continue
        for form_name, spec_name in group_fields(key, method):
            if spec_name in values:
                value = values[spec_name]
                initial[form_name] = list_text(value) if isinstance(value, list) else value
    return initial


@dataclass(frozen=True)
class Fieldset:
    """One card of the job form: its fields, those folded away, and which methods or objective it is for."""

    title: str
    methods: str  # space-separated method names, or "" for every method
    fields: list
    advanced: list
    objective: str = ""  # the objective whose group it is, or ""
    note: str = ""

    @property
    def advanced_has_errors(self) -> bool:
        return any(field.errors for field in self.advanced)


class BaseModelChoice(ModelChoice):
    def label_from_instance(self, obj: ModelAsset) -> str:
        label = super().label_from_instance(obj)
        return label if obj.task == ModelAsset.Task.CAUSAL_LM else f"{label[:-1]}, {obj.get_task_display()})"


class MethodSelect(forms.Select):
    """The method choice; each option names the objectives its method trains (for job_form.js)."""

    def create_option(self, name, value, *args, **kwargs) -> dict:
        option = super().create_option(name, value, *args, **kwargs)
        method = catalogue.METHODS.get(str(value))
        if method is not None:
            option["attrs"]["data-objectives"] = " ".join(method.objectives)
        return option


def objective_choices() -> list[tuple[str, str]]:
    return [
        (name, f"{OBJECTIVE_TITLES[name]}, from {either(tasks)} data")
        for name, tasks in OBJECTIVE_TASKS.items()
    ]


class JobForm(forms.Form):
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave blank to name it after the model and the dataset."
    )
    objective = forms.ChoiceField(
        choices=objective_choices,
        initial=DEFAULT_OBJECTIVE,
        required=False,
        help_text="What the model learns, and so which data it learns from. The dataset must hold that data.",
    )
    base_model = BaseModelChoice(
        queryset=ModelAsset.objects.none(),
        label="Base model",
        help_text="The model to adapt. A classification model trains the classification objective only.",
    )
    dataset = DatasetChoice(
        queryset=Dataset.objects.none(),
        help_text="Data of this team, of the kind the objective learns from.",
    )
    method = forms.ChoiceField(
        choices=[(m.name, m.title) for m in catalogue.methods("train")],
        initial="lora",
        required=False,
        widget=MethodSelect,
        help_text="How the model learns. LoRA suits most runs; every method says what it does below.",
    )

    strategy = forms.ChoiceField(
        choices=distributed.STRATEGY_CHOICES,
        initial="auto",
        required=False,
        label="Parallelism strategy",
        help_text="How several training processes share the model (a profile with more than one process).",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Encoders too: a classifier may start from one (the launch rules name the objective it needs).
        usable = ModelAsset.objects.visible_to(team).usable_as_base("classification")
        self.fields["base_model"].queryset = usable
        self.fields["dataset"].queryset = team.datasets.filter(task__in=TRAINABLE_TASKS)
        for group in (*method_groups(), *objective_groups()):
            for form_name, spec_name in group.fields:
                self.fields.setdefault(form_name, catalogue_field(group.model, spec_name))
        for name in PARAM_GROUPS["training"][2]:
            self.fields[name] = spec_field(TrainingParams, name)
        add_gate_fields(self, team)
        if not self.is_bound and "objective" not in self.initial:
            self.initial["objective"] = self._objective_for_dataset(str(self.initial.get("dataset") or ""))

    def _objective_for_dataset(self, dataset_id: str) -> str:
        """A new job on a given dataset starts on the first objective that learns from its data."""
        found = (
            self.fields["dataset"].queryset.filter(pk=dataset_id).first() if dataset_id.isdigit() else None
        )
        fits = (name for name, tasks in OBJECTIVE_TASKS.items() if found and found.task in tasks)
        return next(fits, DEFAULT_OBJECTIVE)

    def methods(self) -> list[dict]:
        """Each training method's name, title, one-line description and paper, for the page."""
        every = set(OBJECTIVE_TASKS)
        return [
            {
                "name": m.name,
                "title": m.title,
                "description": m.description,
                "paper": m.paper,
                "needs_cuda": m.needs_cuda,
                "only": either(m.objectives) if set(m.objectives) != every else "",
            }
            for m in catalogue.methods("train")
        ]

    def objectives(self) -> list[dict]:
        """Each objective's name, title and the data it learns from, for the page."""
        return [
            {"name": name, "title": OBJECTIVE_TITLES[name], "data": either(tasks)}
            for name, tasks in OBJECTIVE_TASKS.items()
        ]

    def gate_fields(self) -> GateFieldset:
        return gate_fieldset(self)

    def objective_groups(self) -> list[Fieldset]:
        """Each objective's own settings; the page shows the chosen one's (all of them without JavaScript)."""
        return [
            Fieldset(
                group.title,
                "",
                [self[f] for f, _ in group.fields if f not in group.advanced],
                [self[f] for f in group.advanced],
                objective=group.key,
                note=(group.model.__doc__ or "").strip(),
            )
            for group in objective_groups()
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
        sets.append(Fieldset("Several processes", "", [], [self["strategy"]]))
        return sets

    def clean(self) -> dict:
        """The request's parts, each parameter group validated by its model next to its fields; the
        rules of a training job (data that fits the objective, a method that trains it, a model
        that can be a base) are the launch path's (``jobs.launch.rules``), applied on launch."""
        cleaned = super().clean()
        objective = cleaned.get("objective") or DEFAULT_OBJECTIVE
        cleaned["objective"] = objective
        method = catalogue.METHODS.get(cleaned.get("method") or "lora")
        if method is None:
            return cleaned  # the method field carries its own error
        cleaned["method"] = method.name
        params = {key: self._group(key, model, method.name) for key, model in method.params.items()}
        if objective in OBJECTIVE_PARAMS:  # only the chosen objective's group is read
            params[objective] = self._group(objective, OBJECTIVE_PARAMS[objective], method.name)
        if cleaned.get("strategy") not in (None, "", "auto"):  # checked against the profile at launch
            params["distributed"] = {"strategy": cleaned["strategy"]}
        cleaned["params"] = params
        cleaned["gate"] = cleaned_gate(self)  # params.gate, measured on the golden set as validation set
        if not cleaned.get("name") and cleaned.get("base_model") and cleaned.get("dataset"):
            cleaned["name"] = f"{cleaned['base_model'].name} on {cleaned['dataset'].name}"[:200]
        return cleaned

    def _group(self, key: str, model: type[BaseModel], method: str) -> dict:
        """One parameter group from its fields, validated by its model; errors go next to the fields."""
        names = group_fields(key, method)
        cleaned = self.cleaned_data
        given = {
            spec_name: form_value(model, spec_name, cleaned[form_name])
            for form_name, spec_name in names
            if cleaned.get(form_name) not in (None, "")
        }
        try:
            return model(**given).model_dump(mode="json")
        except ValidationError as exc:
            by_spec_name = {spec_name: form_name for form_name, spec_name in names}
            add_to_form(
                self, pydantic_problems(exc), lambda loc: by_spec_name.get(str(loc[0])) if loc else None
            )
            return {}


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
    if key in OBJECTIVE_PARAMS:
        return f"{OBJECTIVE_TITLES[key]} settings"
    return PARAM_GROUPS[key][0] if key in PARAM_GROUPS else key


def method_label(job_kind: str, method: str) -> str | None:
    """A training job's method as people read it ("LoRA+"), or None for other kinds of job."""
    return catalogue.get(method).title if job_kind == "train" and method in catalogue.METHODS else None
