"""The guided new job's pages (see ``jobs.wizard`` for how state travels between them)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs import data_preview, presets, services, sizing, wizard
from jobs.datasets import DatasetRejected, create_dataset
from jobs.forms import PARAM_GROUPS, DatasetUploadForm, spec_field
from jobs.histogram import length_histogram
from jobs.models import Dataset, ModelAsset
from jobs.teams import current_membership, require_launch
from jobs.text import human_count, human_duration
from trainers.estimate import human_bytes

CARD_RANK = presets.PRESETS[presets.DEFAULT_PRESET].rank


def _steps(current: str, state: wizard.State, reached: str) -> list[dict]:
    """The step list: done steps link back with the state so far; later ones are plain text."""
    order = [key for key, _title, _url in wizard.STEPS]
    steps = []
    for key, title, url in wizard.STEPS:
        done = order.index(key) <= order.index(reached)
        steps.append(
            {
                "key": key,
                "title": title,
                "current": key == current,
                "url": f"{reverse(url)}?{state.query()}" if done and key != current else "",
            }
        )
    return steps


def _back_to(step: str, state: wizard.State, problem: str, request: HttpRequest) -> HttpResponse:
    if problem:
        messages.info(request, problem)
    url = dict((key, url) for key, _title, url in wizard.STEPS)[step]
    return redirect(f"{reverse(url)}?{state.query()}")


def _page(request: HttpRequest, template: str, step: str, state: wizard.State, **context) -> HttpResponse:
    membership = current_membership(request)
    context |= {
        "state": state,
        "steps": _steps(step, state, context.pop("reached", step)),
        "hidden": state.items(without=context.pop("editing", ())),
        "can_launch": membership.can_launch,
    }
    return render(request, template, context)


# --- goal ---------------------------------------------------------------------------


@login_required
def goal_step(request: HttpRequest) -> HttpResponse:
    state = wizard.State.from_query(request.GET)
    return _page(request, "jobs/wizard/goal.html", "goal", state, goals=wizard.goals(), editing=("goal",))


# --- data ---------------------------------------------------------------------------


def _preview_model(team, state: wizard.State) -> ModelAsset | None:
    models = wizard.trainable_models(team)
    return models.filter(pk=wizard.as_id(state.model)).first() or models.first()


def _data_check(dataset: Dataset, model: ModelAsset | None, state: wizard.State) -> dict:
    """The checks shown once a dataset is chosen: rows as the model sees them, token lengths."""
    if model is None:
        return {"preview_error": "No base model is available to render the rows with."}
    try:
        lengths = data_preview.token_lengths(dataset, model)
        tokenizer = data_preview.load_tokenizer(model)
        facts = sizing.model_facts(model)
        recommended = data_preview.recommended_max_length(lengths, facts.max_positions)
        max_length = data_preview.max_length_from({"max_length": state.max_length}, recommended)
        rows = [
            data_preview.render_row(tokenizer, row, dataset.task, i + 1, max_length)
            for i, row in enumerate(data_preview.read_rows(dataset, data_preview.PREVIEW_ROWS))
        ]
    except data_preview.PreviewUnavailable as exc:
        return {"preview_error": str(exc)}
    return {
        "rendered_rows": rows,
        "max_length": max_length,
        "recommended": recommended,
        "lengths": data_preview.summarize(lengths, max_length, dataset.row_count),
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
        return _back_to(chosen.missing, state, chosen.problem, request)
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
    model = _preview_model(team, state)
    context = {
        "goal": chosen.goal,
        "datasets": datasets,
        "dataset": dataset,
        "upload": upload,
        "report": report,
        "preview_model": model,
        "other_tasks": team.datasets.exclude(task__in=chosen.goal.tasks).count(),
    }
    if dataset is not None:
        context |= _data_check(dataset, model, state)
    editing = ("dataset", "max_length")
    reached = "data" if dataset is None else "model"
    return _page(request, "jobs/wizard/data.html", "data", state, editing=editing, reached=reached, **context)


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


def _lengths(dataset: Dataset, model: ModelAsset) -> list[int]:
    try:
        return data_preview.token_lengths(dataset, model)
    except data_preview.PreviewUnavailable:
        return []


def _max_length(state: wizard.State, lengths: list[int], facts: sizing.ModelFacts) -> int:
    recommended = data_preview.recommended_max_length(lengths, facts.max_positions)
    return data_preview.max_length_from({"max_length": state.max_length}, recommended)


def model_card(model: ModelAsset, dataset: Dataset, state: wizard.State, profile) -> dict:
    facts = sizing.model_facts(model)
    seq_len = _max_length(state, _lengths(dataset, model), facts)
    fit, batch = None, presets.EFFECTIVE_BATCH
    while batch >= 1:
        fit = sizing.training_fit(facts, profile, rank=CARD_RANK, seq_len=seq_len, batch_size=batch)
        if fit is None or fit.fits is not False or batch == 1:
            break
        batch //= 2
    return {
        "model": model,
        "facts": facts,
        "fit": fit,
        "batch": batch,
        "seq_len": seq_len,
        "parameters_text": human_count(facts.parameters),
    }


@login_required
def model_step(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    state = wizard.State.from_query(request.GET)
    chosen = wizard.resolve(state, team, need="model")
    if chosen.missing:
        return _back_to(chosen.missing, state, chosen.problem, request)
    profile = sizing.default_profile()
    cards = [model_card(model, chosen.dataset, state, profile) for model in wizard.trainable_models(team)]
    selected = wizard.as_id(state.model) or (cards[0]["model"].pk if cards else 0)
    context = {
        "cards": cards,
        "selected": selected,
        "profile": profile,
        "dataset": chosen.dataset,
        "rank": CARD_RANK,
    }
    return _page(request, "jobs/wizard/model.html", "model", state, editing=("model",), **context)


# --- method -------------------------------------------------------------------------


class AdvancedForm(forms.Form):
    """Every training setting, blank by default: blank means the preset's value."""

    def __init__(self, *args, placeholders: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for _title, model, names in PARAM_GROUPS.values():
            for name in names:
                field = spec_field(model, name)
                field.initial = None
                if name in placeholders:
                    field.widget.attrs["placeholder"] = f"{placeholders[name]:g}"
                self.fields[name] = field

    def groups(self) -> list[tuple[str, list]]:
        return [(title, [self[name] for name in names]) for title, _model, names in PARAM_GROUPS.values()]


def _inputs(state: wizard.State, chosen: wizard.Choices) -> dict:
    """Everything the method and review steps compute from the choices."""
    profile = sizing.default_profile()
    facts = sizing.model_facts(chosen.model)
    lengths = _lengths(chosen.dataset, chosen.model)
    max_length = _max_length(state, lengths, facts)
    mean_tokens = sum(lengths) / len(lengths) if lengths else max_length / 2
    options = {}
    for key, preset in presets.PRESETS.items():
        params = presets.preset_params(
            preset, facts=facts, rows=chosen.dataset.row_count, max_length=max_length, profile=profile
        )
        options[key] = {
            "preset": preset,
            "params": params,
            "plan": presets.plan(
                params, facts=facts, rows=chosen.dataset.row_count, mean_tokens=mean_tokens, profile=profile
            ),
        }
    return {
        "profile": profile,
        "facts": facts,
        "lengths": lengths,
        "max_length": max_length,
        "mean_tokens": mean_tokens,
        "options": options,
    }


def _flat(params: dict) -> dict:
    return {name: value for values in params.values() for name, value in values.items()}


def _method_page(request, state, chosen, inputs, form: AdvancedForm) -> HttpResponse:
    for option in inputs["options"].values():
        option["time_text"] = human_duration(option["plan"].seconds)
        option["placeholders"] = json.dumps(
            {
                k: f"{v:g}"
                for k, v in _flat(option["params"]).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        )
    context = {
        "options": inputs["options"],
        "form": form,
        "dataset": chosen.dataset,
        "model": chosen.model,
        "max_length": inputs["max_length"],
        "open_advanced": bool(state.advanced or form.errors),
    }
    return _page(
        request, "jobs/wizard/method.html", "method", state, editing=("preset", *wizard.ADVANCED), **context
    )


@login_required
def method_step(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    state = wizard.State.from_query(request.GET)
    chosen = wizard.resolve(state, team, need="method")
    if chosen.missing:
        return _back_to(chosen.missing, state, chosen.problem, request)
    inputs = _inputs(state, chosen)
    placeholders = _flat(inputs["options"][state.preset]["params"])
    form = AdvancedForm(state.advanced or None, placeholders=placeholders)
    return _method_page(request, state, chosen, inputs, form)


# --- review and launch ----------------------------------------------------------------


class LaunchForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="How the job is listed; change it to anything you like.")


def _default_name(chosen: wizard.Choices) -> str:
    return f"{chosen.model.name} on {chosen.dataset.name}"[:200]


def _chosen_params(state: wizard.State, option: dict) -> tuple[dict | None, AdvancedForm, list[str]]:
    """The preset's parameters with the advanced settings on top; None and the form with its
    errors when a setting is invalid."""
    form = AdvancedForm(state.advanced, placeholders=_flat(option["params"]))
    if not form.is_valid():
        return None, form, []
    overrides = {k: v for k, v in form.cleaned_data.items() if v is not None}
    try:
        return presets.with_overrides(option["params"], overrides), form, sorted(overrides)
    except presets.ParamsInvalid as exc:
        for name, message in exc.errors.items():
            form.add_error(name if name in form.fields else None, message)
        return None, form, []


def _review_context(chosen: wizard.Choices, inputs: dict, params: dict) -> dict:
    plan = presets.plan(
        params,
        facts=inputs["facts"],
        rows=chosen.dataset.row_count,
        mean_tokens=inputs["mean_tokens"],
        profile=inputs["profile"],
    )
    parts = plan.fit.memory.parts() if plan.fit else []
    return {
        "goal": chosen.goal,
        "dataset": chosen.dataset,
        "model": chosen.model,
        "params": params,
        "plan": plan,
        "profile": inputs["profile"],
        "time_text": human_duration(plan.seconds),
        "sampled": len(inputs["lengths"]),
        "over": sum(length > params["training"]["max_seq_length"] for length in inputs["lengths"]),
        "memory_parts": [(label, human_bytes(size)) for label, size in parts],
    }


@login_required
def review_step(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    posted = request.method == "POST"
    state = wizard.State.from_query(request.POST if posted else request.GET)
    chosen = wizard.resolve(state, membership.team, need="review")
    if chosen.missing:
        return _back_to(chosen.missing, state, chosen.problem, request)
    inputs = _inputs(state, chosen)
    option = inputs["options"][state.preset]
    params, form, customised = _chosen_params(state, option)
    if params is None:
        return _method_page(request, state, chosen, inputs, form)
    launch = LaunchForm(request.POST if posted else None, initial={"name": _default_name(chosen)})
    if posted:
        require_launch(membership)
        if launch.is_valid():
            job = services.create_training_job(
                team=membership.team,
                user=request.user,
                name=launch.cleaned_data["name"],
                base_model=chosen.model,
                dataset=chosen.dataset,
                params=params,
            )
            messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
            return redirect("jobs:job_detail", pk=job.pk)
    context = _review_context(chosen, inputs, params)
    context |= {"preset": option["preset"], "launch": launch, "customised": customised}
    return _page(request, "jobs/wizard/review.html", "review", state, **context)
