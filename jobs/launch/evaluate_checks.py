"""The launch checks of an evaluate job (named by its entry in ``jobs.launch.kinds`` through
``jobs.launch.rules``): a base and a candidate of one task, harness tasks for language models only, and
a judge — a Hone language model with a rubric, or the operator's OpenAI-compatible endpoint."""

from __future__ import annotations

from django.conf import settings

from jobs.launch.types import LaunchRequest, Problem
from jobs.models import Dataset, ModelAsset


def evaluate_problems(request: LaunchRequest) -> list[Problem]:
    base, candidate = request.model("base"), request.model("candidate")
    if base is None or candidate is None:
        return [
            Problem((name,), "required")
            for name, given in (("base", base), ("candidate", candidate))
            if given is None
        ]
    if base.task != candidate.task:
        return [
            Problem(
                ("candidate",),
                f"{candidate.name} does a different task than {base.name}; compare like with like",
            )
        ]
    return _harness_problems(request, base) + _judge_problems(request)


def _judge_problems(request: LaunchRequest) -> list[Problem]:
    judge, labels = request.model("judge"), request.dataset("judge_labels")
    chosen = request.params.get("judge")
    if judge is None and chosen is None and labels is None:
        return []
    if isinstance(chosen, dict) and chosen.get("use_endpoint"):
        return _endpoint_judge_problems(judge, labels)
    if judge is None:
        return [Problem(("judge_model",), "required: the model that judges the answers")]
    if chosen is None:
        return [Problem(("judge", "rubric"), "required: what makes one answer better than another")]
    found = []
    if judge.task != ModelAsset.Task.CAUSAL_LM:
        why = f"{judge.name} is a classifier; a judge must be a language model"
        found.append(Problem(("judge_model",), why))
    if labels is not None and labels.task != "preference":
        found.append(Problem(("judge_labels",), f"{labels.name} holds {labels.task} data; labelled pairs are "
                             "preference rows (prompt, chosen, rejected)"))
    return found


def _endpoint_judge_problems(judge: ModelAsset | None, labels: Dataset | None) -> list[Problem]:
    """The operator's OpenAI-compatible endpoint judges instead of a Hone model: it must be configured."""
    found = []
    if judge is not None:
        found.append(Problem(("judge_model",), "give a judge model or params.judge.use_endpoint, not both"))
    if not (settings.HONE_JUDGE_BASE_URL and settings.HONE_JUDGE_MODEL):
        why = ("this installation has no judge endpoint; an operator sets HONE_JUDGE_BASE_URL and "
               "HONE_JUDGE_MODEL (and HONE_JUDGE_API_KEY)")
        found.append(Problem(("judge", "use_endpoint"), why))
    if labels is not None and labels.task != "preference":
        found.append(Problem(("judge_labels",), f"{labels.name} holds {labels.task} data; labelled pairs are "
                             "preference rows (prompt, chosen, rejected)"))
    return found


def _harness_problems(request: LaunchRequest, base: ModelAsset) -> list[Problem]:
    """Harness tasks score language models on multiple-choice rows or the operator's task files."""
    uploaded = [d.dataset for d in request.datasets if d.role == "harness"]
    chosen = request.params.get("harness") or {}
    if not uploaded and not chosen:
        return []
    if base.task != ModelAsset.Task.CAUSAL_LM:
        return [Problem(("harness",), f"harness tasks score language models; {base.name} is a classifier")]
    found = [
        Problem(("harness_datasets", i), f"{d.name} holds {d.task} data; a harness task reads "
                "multiple_choice rows (question, choices, answer)")
        for i, d in enumerate(uploaded) if d.task != "multiple_choice"
    ]
    if not uploaded and not chosen.get("tasks"):
        found.append(Problem(("harness", "tasks"), "name harness tasks, or give multiple-choice datasets"))
    return found
