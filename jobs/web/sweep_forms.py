"""The sweep form: a training job to start from, what to search in it, and the budget, in the words
of someone who wants "the best settings for this data" rather than a search-space document (the API
takes any space: api/serializers/sweeps.py)."""

from __future__ import annotations

from django import forms

from jobs.models import ModelAsset, Team
from jobs.web.form_fields import DatasetChoice, ModelChoice
from trainers import catalogue
from trainers.objectives.params import OBJECTIVE_TASKS
from trainers.spec_sweep import PRUNERS, default_direction

# What the form offers to search, each as a part of the space (trainers/sweep_space.py).
SEARCHES: dict[str, tuple[str, dict]] = {
    "learning_rate": (
        "Learning rate (1e-5 to 1e-3, log scale)",
        {"training.learning_rate": {"low": 1e-5, "high": 1e-3, "log": True}},
    ),
    "rank": ("LoRA rank (4, 8, 16, 32)", {"lora.r": {"choices": [4, 8, 16, 32]}}),
    "dora": ("DoRA on or off", {"lora.use_dora": {"choices": [False, True]}}),
    "method": ("LoRA or full fine-tuning", {"method": {"choices": ["lora", "full"]}}),
    "epochs": ("Epochs (1, 2, 3)", {"training.epochs": {"choices": [1, 2, 3]}}),
}
METRICS = [
    ("eval/loss", "held-out loss (lower is better)"),
    ("eval/accuracy", "held-out accuracy (classifiers)"),
    ("eval/macro_f1", "held-out macro-F1 (classifiers, imbalanced labels)"),
]


class SweepForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Leave blank to name it after the data.")
    base_model = ModelChoice(queryset=ModelAsset.objects.none(), label="Base model")
    dataset = DatasetChoice(queryset=None, label="Training data")
    objective = forms.ChoiceField(choices=[(name, name) for name in OBJECTIVE_TASKS], initial="sft")
    method = forms.ChoiceField(
        choices=[(m.name, m.title) for m in catalogue.methods("train")],
        initial="lora",
        help_text="Every trial's method, unless you search it.",
    )
    epochs = forms.FloatField(min_value=0.1, max_value=100, initial=1, help_text="Unless you search them.")
    search = forms.MultipleChoiceField(
        choices=[(key, words) for key, (words, _) in SEARCHES.items()],
        widget=forms.CheckboxSelectMultiple,
        initial=["learning_rate", "rank"],
        label="Search",
    )
    metric = forms.ChoiceField(choices=METRICS, initial="eval/loss", label="Best means")
    trials = forms.IntegerField(min_value=1, max_value=500, initial=12, help_text="Trials in all.")
    parallel = forms.IntegerField(
        min_value=1, max_value=64, initial=2, label="At once", help_text="Never above your team's GPU quota."
    )
    pruner = forms.ChoiceField(
        choices=[(p, p.replace("_", " ")) for p in PRUNERS],
        initial="median",
        help_text="Stops trials that are losing, from their evaluations.",
    )
    warmup_evals = forms.IntegerField(
        min_value=0,
        max_value=1000,
        required=False,
        label="Pruning warm-up",
        help_text="Evaluations of each trial the median pruner never stops at; blank: half of them.",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = ModelAsset.objects.visible_to(team).exclude(path="")
        self.fields["dataset"].queryset = team.datasets.all()

    def params(self) -> dict:
        """The sweep's params: the training job every trial starts from, and the search."""
        data = self.cleaned_data
        space: dict = {}
        for key in data["search"]:
            space |= SEARCHES[key][1]
        warmup = {} if data.get("warmup_evals") is None else {"warmup_evals": data["warmup_evals"]}
        return {
            "trial": {"training": {"epochs": data["epochs"]}},
            "space": space,
            "sampler": "tpe",
            "pruner": data["pruner"],
            **warmup,
            "metric": data["metric"],
            "direction": default_direction(data["metric"]),
            "budget": {"trials": data["trials"], "parallel": data["parallel"]},
        }

    def field_of(self, loc: tuple) -> str | None:
        """A refusal's place as this form's field: the budget's and the space's, then the job's own."""
        head = str(loc[0]) if loc else ""
        if head == "budget" and len(loc) > 1 and str(loc[1]) in self.fields:
            return str(loc[1])
        if head == "space":
            return "search"
        if head == "training" and len(loc) > 1 and str(loc[1]) == "epochs":
            return "epochs"
        return head if head in self.fields else None
