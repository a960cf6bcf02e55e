"""Forms for the jobs that follow training: quantize and evaluate (and merge).

Parameter fields come from the trainer's spec models, as in the training form; the whole
job is checked by the launch path (``jobs.launch``), whose errors name the field.
"""

from __future__ import annotations

import math

from django import forms

from jobs.models import ModelAsset, Team
from jobs.web.forms import DatasetChoice, ModelChoice, spec_field
from trainers import estimate
from trainers.spec_quantize import GptqParams, Rtn4Params

QUANTIZE_METHODS = [
    ("rtn_int8", "int8, round to nearest: fast, nearly lossless, half the size of fp16"),
    ("rtn_int4", "int4, round to nearest: a quarter of fp16, some quality loss"),
    ("gptq_int4", "int4 with GPTQ: calibrated on text, the best 4-bit quality"),
]
QUANTIZE_OUTPUTS = [
    ("torchao", "transformers model (loads back quantized with from_pretrained)"),
    ("gguf_q8_0", "GGUF Q8_0 (llama.cpp, Ollama, LM Studio)"),
    ("gguf_q4_0", "GGUF Q4_0 (llama.cpp, Ollama, LM Studio)"),
    ("gguf_q4_k_m", "GGUF Q4_K_M, importance-weighted k-quants: smaller than Q8_0, better than Q4_0"),
    ("gguf_q5_k_m", "GGUF Q5_K_M, importance-weighted k-quants"),
    ("gguf_q6_k", "GGUF Q6_K, importance-weighted k-quants: close to Q8_0 at 80 % of its size"),
]
# Which method reads which parameter fields.
METHOD_PARAMS = {
    "rtn_int8": (),
    "rtn_int4": ("group_size", "symmetric"),
    "gptq_int4": ("group_size", "symmetric", "damp_percent", "calibration_samples"),
}
PARAM_FIELDS = ("group_size", "symmetric", "damp_percent", "calibration_samples")
# The folded "Advanced settings" section: it opens when one of these has an error.
ADVANCED_FIELDS = (*PARAM_FIELDS, "calibration", "eval_dataset")
GGUF_Q4_0_GROUP = 32  # GGUF Q4_0 blocks (trainers.spec_quantize)


def quantizable_models(team: Team):
    """Full-precision transformers models on disk: the inputs quantization can read."""
    return (
        ModelAsset.objects.visible_to(team)
        .filter(task=ModelAsset.Task.CAUSAL_LM, format=ModelAsset.Format.TRANSFORMERS, quantization="")
        .exclude(path="")
    )


class QuantizeForm(forms.Form):
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave blank to name it after the model."
    )
    model = ModelChoice(queryset=ModelAsset.objects.none(), help_text="A full-precision model of this team.")
    method = forms.ChoiceField(choices=QUANTIZE_METHODS, initial="rtn_int8", widget=forms.RadioSelect)
    outputs = forms.MultipleChoiceField(
        choices=QUANTIZE_OUTPUTS, initial=["torchao"], widget=forms.CheckboxSelectMultiple
    )
    calibration = DatasetChoice(
        queryset=None,
        required=False,
        help_text="GPTQ and the GGUF k-quants: text to calibrate on; blank uses built-in text.",
    )
    eval_dataset = DatasetChoice(
        queryset=None,
        required=False,
        label="Evaluation text",
        help_text="Held-out text for perplexity before and after; blank uses built-in passages.",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = quantizable_models(team)
        for name in ("calibration", "eval_dataset"):
            self.fields[name].queryset = team.datasets.filter(task__in=("text", "instruction", "chat"))
        for name in PARAM_FIELDS:
            self.fields[name] = spec_field(GptqParams, name)

    def param_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in PARAM_FIELDS]

    @property
    def advanced_has_errors(self) -> bool:
        return any(name in self.errors for name in ADVANCED_FIELDS)

    def clean(self) -> dict:
        cleaned = super().clean()
        method = cleaned.get("method")
        if method == "gptq_int4" and "gguf_q4_0" in cleaned.get("outputs", []):
            self._check_gguf_q4_0(cleaned)
        chosen = {n: cleaned[n] for n in METHOD_PARAMS.get(method, ()) if cleaned.get(n) is not None}
        cleaned["params"] = {"method": method, "outputs": cleaned.get("outputs", []), "params": chosen}
        if not cleaned.get("name") and cleaned.get("model"):
            cleaned["name"] = f"{cleaned['model'].name} · {method}"[:200]
        return cleaned

    def _check_gguf_q4_0(self, cleaned: dict) -> None:
        """GGUF Q4_0 holds symmetric blocks of 32 weights: GPTQ must quantize the same way (the spec
        refuses it too, in its own names; here it is said in this form's labels)."""
        group = cleaned.get("group_size") or GptqParams.model_fields["group_size"].default
        symmetric = cleaned.get("symmetric")
        why = "GGUF Q4_0 stores symmetric blocks of 32 weights, so GPTQ must use the same"
        if group != GGUF_Q4_0_GROUP:
            self.add_error(
                "group_size", f"{why}: set Group size to 32 (it is {group}), or untick the GGUF Q4_0 output."
            )
        if not symmetric:
            self.add_error("symmetric", f"{why}: tick Symmetric, or untick the GGUF Q4_0 output.")

    def inputs(self) -> tuple[list, list]:
        data = self.cleaned_data
        datasets = [
            (role, data[key])
            for role, key in (("calibration", "calibration"), ("dataset", "eval_dataset"))
            if data.get(key)
        ]
        return [("base", data["model"], None)], datasets


class EvaluateForm(forms.Form):
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave blank to name it after the models."
    )
    base = ModelChoice(
        queryset=ModelAsset.objects.none(), label="Base model", help_text="What to compare against."
    )
    candidate = ModelChoice(queryset=ModelAsset.objects.none(), help_text="The model you made.")
    dataset = DatasetChoice(
        queryset=None,
        required=False,
        label="Evaluation data",
        help_text="Held-out rows; text + label for classifiers. Blank: built-in passages (language models).",
    )
    max_new_tokens = forms.IntegerField(
        min_value=1, max_value=2048, initial=64, label="Tokens per sample generation"
    )
    harness_datasets = forms.ModelMultipleChoiceField(
        queryset=None, required=False, label="Multiple-choice datasets",
        help_text="Each runs as an lm-evaluation-harness task (question, choices, answer) on both models.",
    )
    harness_tasks = forms.CharField(
        required=False, max_length=2000, label="Installed harness tasks",
        help_text="Names of tasks your operator installed, separated by commas.",
    )
    judge_model = ModelChoice(
        queryset=ModelAsset.objects.none(), required=False, label="Judge",
        help_text="A language model that grades the two models' answers pairwise, in both orders.",
    )
    rubric = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What makes one answer better than another; needed with a judge.",
    )
    judge_endpoint = forms.BooleanField(
        required=False, label="Judge with the operator's endpoint",
        help_text="The OpenAI-compatible model your operator configured grades the answers instead of a "
        "model of the team (leave Judge blank).",
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        models = ModelAsset.objects.visible_to(team).exclude(path="")
        self.fields["base"].queryset = models
        self.fields["candidate"].queryset = models
        self.fields["judge_model"].queryset = models
        self.fields["dataset"].queryset = team.datasets.all()
        self.fields["harness_datasets"].queryset = team.datasets.filter(task="multiple_choice")

    def clean(self) -> dict:
        cleaned = super().clean()
        base, candidate = cleaned.get("base"), cleaned.get("candidate")
        if base and candidate and base.task != candidate.task:
            self.add_error("candidate", f"{candidate.name} does a different task than {base.name}")
        cleaned["params"] = {"max_new_tokens": cleaned.get("max_new_tokens") or 64}
        tasks = [t.strip() for t in (cleaned.get("harness_tasks") or "").split(",") if t.strip()]
        if tasks:
            cleaned["params"]["harness"] = {"tasks": tasks}
        if cleaned.get("rubric") or cleaned.get("judge_endpoint"):
            cleaned["params"]["judge"] = {"rubric": cleaned.get("rubric") or ""}
            if cleaned.get("judge_endpoint"):
                cleaned["params"]["judge"]["use_endpoint"] = True
        if not cleaned.get("name") and base and candidate:
            cleaned["name"] = f"{candidate.name} vs {base.name}"[:200]
        return cleaned

    def _check_group_size(self, cleaned: dict, method: str) -> None:
        """Every weight row must split into whole groups: SmolLM2's 576 columns take 64, not 128. Told
        here from the model's config.json, not by the trainer after the job has started."""
        params = GptqParams if method == "gptq_int4" else Rtn4Params
        group = cleaned.get("group_size") or params.model_fields["group_size"].default
        config = estimate.read_config(cleaned["model"].path)
        shape = estimate.shape_from_config(config) if config else None
        if shape is None:
            return
        columns = sorted({columns for _name, columns, _rows in shape.block_linears()})
        if all(c % group == 0 for c in columns):
            return
        fits = math.gcd(*columns) & -math.gcd(*columns)  # the largest power of two dividing them all
        self.add_error(
            "group_size",
            f"{cleaned['model'].name}'s layers have {' and '.join(map(str, columns))} input columns, which "
            f"groups of {group} do not divide; set Group size to {min(fits, 1024)} or another power of two "
            "that divides them.",
        )

    def inputs(self) -> tuple[list, list]:
        data = self.cleaned_data
        datasets = [("dataset", data["dataset"])] if data.get("dataset") else []
        datasets += [("harness", d) for d in data.get("harness_datasets") or []]
        models = [("base", data["base"], None), ("candidate", data["candidate"], None)]
        if data.get("judge_model"):
            models.append(("judge", data["judge_model"], None))
        return models, datasets
