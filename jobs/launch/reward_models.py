"""The classifiers a job's rewards name (``{"name": "classifier", "params": {"model": 42, "label":
"good"}}`` in ``params.<objective>.rewards``): found in the team's scope, recorded as the job's
``reward_model`` inputs (lineage: which model scored the answers), and checked before the job is
created — a model another team owns is "not found", like one that does not exist; a text-generation
model, a classifier without files on the server, and a label the classifier does not know are refused
at the reward's ``params``. The spec builder gives the trainer their directories from the inputs
(``jobs.lifecycle.specs``), never from the request.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jobs.launch.types import LaunchRequest, Loc, ModelInput, Problem
from jobs.models import JobInput, ModelAsset
from trainers.rewards.classifier import REWARD as CLASSIFIER
from trainers.rewards.classifier import ClassifierError, labels_of
from trainers.rewards.registry import from_text

ROLE = JobInput.Role.REWARD_MODEL


def named(params: dict, objective: str) -> list[tuple[int, Any, Any]]:
    """(index in the rewards, model id, label) of each classifier reward in ``params``, as given."""
    group = params.get(objective) if isinstance(params.get(objective), dict) else {}
    chosen = group.get("rewards") if isinstance(group.get("rewards"), list) else []
    found = []
    for index, given_choice in enumerate(chosen):
        choice = from_text(given_choice)  # a form's "classifier=42/good" too
        if isinstance(choice, dict) and choice.get("name") == CLASSIFIER.name:
            given = choice.get("params") if isinstance(choice.get("params"), dict) else {}
            model_id = given.get("model")
            if isinstance(model_id, str) and model_id.strip().isdigit():  # as a form's text gives it
                model_id = int(model_id)
            found.append((index, model_id, given.get("label")))
    return found


def _visible(request: LaunchRequest, ids: list[Any]) -> dict[int, ModelAsset]:
    wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    return {m.pk: m for m in ModelAsset.objects.visible_to(request.team).filter(pk__in=wanted)}


def with_inputs(request: LaunchRequest, params: dict | None = None) -> LaunchRequest:
    """``request`` with one ``reward_model`` input per classifier its rewards name that the team may
    use (those it may not are refused by ``problems``); earlier ones (a retry's) are replaced."""
    chosen = named(request.params if params is None else params, request.objective or "sft")
    found = _visible(request, [model_id for _, model_id, _ in chosen])
    ids = list(dict.fromkeys(model_id for _, model_id, _ in chosen if model_id in found))
    kept = tuple(m for m in request.models if m.role != ROLE)
    return dataclasses.replace(request, models=kept + tuple(ModelInput(ROLE, found[i]) for i in ids))


def sweep_with_inputs(request: LaunchRequest) -> LaunchRequest:
    """A sweep's trials share its inputs: the classifiers its trial's rewards name."""
    return with_inputs(request, request.params.get("trial") or {})


def problems(request: LaunchRequest) -> list[Problem]:
    """Each classifier reward whose model the team cannot use as one, at its ``params``."""
    objective = request.objective or "sft"
    chosen = named(request.params, objective)
    found = _visible(request, [model_id for _, model_id, _ in chosen])
    refused = []
    for index, model_id, label in chosen:
        at: Loc = (objective, "rewards", index, "params")
        model = found.get(model_id) if isinstance(model_id, int) else None
        if model_id is None:
            continue  # the reward's own parameters say it is required
        if model is None:
            refused.append(Problem((*at, "model"), f"model {model_id} not found"))
        elif unfit := why_unfit(model, label):
            refused.append(Problem((*at, unfit[0]), unfit[1]))
    return refused


def why_unfit(model: ModelAsset, label: Any) -> tuple[str, str] | None:
    """(the parameter at fault, why) when ``model`` cannot score answers for ``label``; None if it can."""
    if model.task != ModelAsset.Task.CLASSIFICATION:
        return "model", (f"{model.name} is a text-generation model, not a classifier; pick a model trained "
                         "with the classification objective")  # fmt: skip
    if model.format != ModelAsset.Format.TRANSFORMERS or not model.path:
        return "model", (f"{model.name} has no classifier files on the server to load (an adapter: pick "
                         "the merged model its job saved)")  # fmt: skip
    try:
        labels = labels_of(model.path)
    except ClassifierError as exc:
        return "model", f"{model.name} cannot be read as a classifier: {exc}"
    if label is not None and str(label) not in labels:
        return "label", f"label {label!r} is not one of {model.name}'s labels: {', '.join(labels)}"
    return None
