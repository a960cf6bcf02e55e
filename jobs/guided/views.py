"""The guided new job's pages (see ``jobs.guided.wizard`` for how state travels between them)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from jobs.data import preview, task_preview
from jobs.data.datasets import DatasetRejected, create_dataset
from jobs.guided import presets, sizing, wizard
from jobs.guided.pages import back_to, chosen_max_length, page, sampled_lengths

# The method and review steps live in jobs/guided/plan_views.py; the URLconf finds them here.
from jobs.guided.plan_views import method_step, review_step  # noqa: E402
from jobs.models import Dataset, ModelAsset
from jobs.teams.access import current_membership, require_launch
from jobs.web.forms import DatasetUploadForm
from jobs.web.histogram import length_histogram
from jobs.web.text import human_count

CARD_PRESET = presets.PRESETS[presets.DEFAULT_PRESET]
CARD_RANK = CARD_PRESET.rank
METHOD_NAMES = {"lora": "LoRA", "qlora": "QLoRA"}  # the adapters presets.choose_method picks


# --- goal ---------------------------------------------------------------------------


@login_required
def goal_step(request: HttpRequest) -> HttpResponse:
    state = wizard.State.from_query(request.GET)
    goals = wizard.goals()
    preference = next(g for g in goals if g.key == "preference")
    objectives = [
        {
            "name": o,
            "help": wizard.OBJECTIVE_HELP.get(o, ""),
            "checked": o == preference.objective(state.objective),
        }
        for o in preference.objectives
    ]
    offered = wizard.reward_choices(current_membership(request).team)
    chosen_reward = wizard.reward_choice(state.advanced.get(wizard.REWARDS_FIELD, ""), offered)
    checks = [{"value": v, "words": w, "checked": v == chosen_reward} for v, w in offered]
    context = {"goals": goals, "objectives": objectives, "checks": checks}
    # The base model is chosen for a goal (an encoder for a classifier, a language model for a chat
    # assistant): a new goal starts its model choice afresh, so a chat model chosen before does not
    # tokenize a classifier's rows nor stay preselected.
    editing = ("goal", "objective", "model", wizard.REWARDS_FIELD)
    return page(request, "jobs/wizard/goal.html", "goal", state, editing=editing, **context)


# --- data ---------------------------------------------------------------------------


def _preview_model(team, state: wizard.State, goal: wizard.Goal) -> ModelAsset | None:
    models = wizard.trainable_models(team, goal)
    return models.filter(pk=wizard.as_id(state.model)).first() or models.first()


def _data_check(dataset: Dataset, model: ModelAsset | None, state: wizard.State) -> dict:
    """The checks shown once a dataset is chosen: rows as the model sees them, token lengths."""
    if model is None:
        return {"preview_error": "No base model is available to render the rows with."}
    try:
        lengths = preview.token_lengths(dataset, model)
        tokenizer = preview.load_tokenizer(model)
        facts = sizing.model_facts(model)
        recommended = preview.recommended_max_length(lengths, facts.max_positions)
        max_length = preview.max_length_from({"max_length": state.max_length}, recommended)
        if dataset.task in ("preference", "classification"):
            rows = task_preview.rendered(dataset, tokenizer, max_length)
        else:
            rows = {
                "rendered_rows": [
                    preview.render_row(tokenizer, row, dataset.task, i + 1, max_length)
                    for i, row in enumerate(preview.read_rows(dataset, preview.PREVIEW_ROWS))
                ]
            }
    except preview.PreviewUnavailable as exc:
        return {"preview_error": str(exc)}
    return rows | {
        "max_length": max_length,
        "recommended": recommended,
        "lengths": preview.summarize(lengths, max_length, dataset.row_count),
        "length_chart": length_histogram(lengths, max_length),
    }


@login_required
def data_step(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    team = membership.team
    source = request.POST if request.method == "POST" else request.GET
    state = wizard.State.from_query(source)
    chosen = wizard.resolve(state, team, need="data")
    if chosen.missing:
        return back_to(chosen.missing, state, chosen.problem, request)
    upload, report = DatasetUploadForm(), None
    if request.method == "POST":
        require_launch(membership)
        upload = DatasetUploadForm(request.POST, request.FILES)
        if upload.is_valid():
            try:
                dataset = create_dataset(
                    team=team,
                    user=request.user,
                    name=upload.cleaned_data["name"],
                    upload=upload.cleaned_data["file"],
                )
            except DatasetRejected as exc:
                upload.add_error("file", str(exc))
                report = exc.report
            else:
                return _uploaded(request, state, dataset, chosen.goal)
    datasets = wizard.datasets_for(team, chosen.goal)
    dataset = datasets.filter(pk=wizard.as_id(state.dataset)).first()
    model = _preview_model(team, state, chosen.goal)
    context = {
        "goal": chosen.goal,
        "datasets": datasets,
        "dataset": dataset,
        "upload": upload,
        "report": report,
        "preview_model": model,
        "hidden_datasets": wizard.hidden_datasets(team, chosen.goal),
    }
    if dataset is not None:
        context |= _data_check(dataset, model, state)
    editing = ("dataset", "max_length")
    reached = "data" if dataset is None else "model"
    return page(request, "jobs/wizard/data.html", "data", state, editing=editing, reached=reached, **context)


def _uploaded(request: HttpRequest, state: wizard.State, dataset: Dataset, goal: wizard.Goal) -> HttpResponse:
    if dataset.task not in goal.tasks:
        messages.warning(
            request,
            f"“{dataset.name}” is stored, but it holds {dataset.task} data; "
            f"a {goal.title.lower()} learns from {' or '.join(goal.tasks)} data.",
        )
        return redirect(f"{reverse('jobs:wizard_data')}?{state.query(dataset='')}")
    messages.success(
        request, f"“{dataset.name}” is checked and stored: {dataset.row_count:,} rows, no problems."
    )
    return redirect(
        f"{reverse('jobs:wizard_data')}?{state.query(dataset=str(dataset.pk), max_length='')}#check"
    )


# --- base model ---------------------------------------------------------------------


def model_card(model: ModelAsset, dataset: Dataset, state: wizard.State, profile, objective: str) -> dict:
    """A base model's card: size, and the memory the default preset would train it with (its own
    method for this model: a rank-16 adapter, or every weight of a small classifier)."""
    facts = sizing.model_facts(model)
    seq_len = chosen_max_length(state, sampled_lengths(dataset, model), facts)
    method, _why = presets.choose_method(
        CARD_PRESET, objective, presets.Sizing(facts, dataset.row_count, seq_len, profile)
    )
    fit, batch = None, presets.EFFECTIVE_BATCH
    while batch >= 1:
        fit = sizing.training_fit(
            facts, profile, rank=CARD_RANK, seq_len=seq_len, batch_size=batch, method=method
        )
        if fit is None or fit.fits is not False or batch == 1:
            break
        batch //= 2
    return {
        "model": model,
        "facts": facts,
        "fit": fit,
        "batch": batch,
        "seq_len": seq_len,
        "method_text": (
            "full fine-tuning" if method == "full" else f"a rank-{CARD_RANK} {METHOD_NAMES[method]} adapter"
        ),
        "parameters_text": human_count(facts.parameters),
    }


@login_required
def model_step(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    state = wizard.State.from_query(request.GET)
    chosen = wizard.resolve(state, team, need="model")
    if chosen.missing:
        return back_to(chosen.missing, state, chosen.problem, request)
    profile = sizing.default_profile()
    models = wizard.trainable_models(team, chosen.goal)
    objective = chosen.goal.objective(state.objective)
    cards = [model_card(model, chosen.dataset, state, profile, objective) for model in models]
    selected = wizard.as_id(state.model) or (cards[0]["model"].pk if cards else 0)
    context = {
        "cards": cards,
        "selected": selected,
        "profile": profile,
        "dataset": chosen.dataset,
        "preset": CARD_PRESET,
        "goal": chosen.goal,
    }
    return page(request, "jobs/wizard/model.html", "model", state, editing=("model",), **context)


__all__ = ["data_step", "goal_step", "method_step", "model_step", "review_step"]
