"""The guided new job's method and review steps: the presets' recipes, advanced settings, launch."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from jobs.data import preview, task_preview
from jobs.guided import params, presets, reward_preview, sizing, team_options, timing, wizard, words
from jobs.guided.pages import back_to, chosen_max_length, page, sampled_lengths
from jobs.launch import LaunchRefused, errors, launch_training
from jobs.lifecycle import shape
from jobs.models import ComputeProfile, Dataset, Team
from jobs.teams.access import current_membership, require_launch
from trainers import catalogue
from trainers.estimate import human_bytes
from trainers.objectives.params import OBJECTIVE_TITLES

# --- method -------------------------------------------------------------------------


def _objective_methods(objective: str) -> list[catalogue.Method]:
    return [m for m in catalogue.methods("train") if objective in m.objectives]


def _inputs(state: wizard.State, chosen: wizard.Choices, team: Team) -> dict:
    """Everything the method and review steps compute from the choices: each preset's recipe, the
    built-in ones' and the team's saved presets' that fit (``jobs.guided.team_options``)."""
    profile = sizing.default_profile()
    facts = sizing.model_facts(chosen.model)
    lengths = sampled_lengths(chosen.dataset, chosen.model)
    max_length = chosen_max_length(state, lengths, facts)
    mean_tokens = sum(lengths) / len(lengths) if lengths else max_length / 2
    objective = chosen.goal.objective(state.objective)
    method = state.method if presets.trains(state.method, objective) else ""
    rows = chosen.dataset.row_count
    size = presets.Sizing(facts, rows, max_length, profile)
    recipes = [presets.recipe(p, objective, size, method=method) for p in presets.PRESETS.values()]
    options = {}
    for recipe in recipes + team_options.recipes(team, objective):
        plan = presets.plan(
            recipe.method, recipe.params, facts=facts, rows=rows, mean_tokens=mean_tokens, profile=profile
        )
        if recipe.preset.key in presets.PRESETS or team_options.fits(plan):
            option = {"preset": recipe.preset, "recipe": recipe, "params": recipe.params, "plan": plan}
            options[recipe.preset.key] = option | {"method": recipe.method_entry}
    if state.preset not in options:  # another team's preset, a deleted one, or one that does not fit
        state.preset = presets.DEFAULT_PRESET
    return {
        "profile": profile,
        "facts": facts,
        "lengths": lengths,
        "max_length": max_length,
        "mean_tokens": mean_tokens,
        "objective": objective,
        "method": method,
        "options": options,
    }


def _placeholders(recipe: presets.Recipe) -> dict[str, str]:
    """The preset's value of each setting, as the form's greyed placeholders."""
    found = {}
    for f in params.fields_for(recipe.method, recipe.objective):
        values = recipe.params.get(f.group) or {}
        if f.spec_name in values:
            found[f.name] = params.form_value(values[f.spec_name])
    return found


def _several_processes(profile: ComputeProfile | None) -> bool:
    return bool(profile and profile.nodes * profile.per_node > 1)


def _page_fields(inputs: dict) -> list[params.ParamField]:
    """The settings of every method the presets on the page train with (and the parallelism
    strategy where the profile runs several processes)."""
    several = _several_processes(inputs["profile"])
    wanted = {
        f
        for o in inputs["options"].values()
        for f in params.fields_for(o["recipe"].method, inputs["objective"], several_processes=several)
    }
    return [f for f in params.all_fields() if f in wanted]


def advanced_form(state: wizard.State, inputs: dict, fields=None, *, bound: bool = False):
    """The advanced settings as the user gave them; ``bound``: even when none is set (to show errors)."""
    recipe = inputs["options"][state.preset]["recipe"]
    data = state.advanced if state.advanced or bound else None
    return params.AdvancedForm(
        data, fields=fields or _page_fields(inputs), placeholders=_placeholders(recipe)
    )


def _method_page(request, state, chosen, inputs, form) -> HttpResponse:
    ratios = timing.measured_ratios(inputs["profile"])
    for option in inputs["options"].values():
        option["time_text"] = timing.range_text(timing.of_plan(option["plan"], ratios))
        option["time_calibrated"] = bool(ratios)
        option["placeholders"] = json.dumps(_placeholders(option["recipe"]))
    objective = inputs["objective"]
    context = {
        "options": inputs["options"],
        "form": form,
        "dataset": chosen.dataset,
        "model": chosen.model,
        "goal": chosen.goal,
        "objective_title": OBJECTIVE_TITLES[objective],
        "methods": _objective_methods(objective),
        "chosen_method": inputs["method"],
        "max_length": inputs["max_length"],
        # The checkable goal's check is chosen on the goal page: it alone does not open the settings.
        "open_advanced": bool(set(state.advanced) - {wizard.REWARDS_FIELD} or state.method or form.errors),
    }
    editing = ("preset", "method", *params.names())
    return page(request, "jobs/wizard/method.html", "method", state, editing=editing, **context)


@login_required
def method_step(request: HttpRequest) -> HttpResponse:
    team = current_membership(request).team
    state = wizard.State.from_query(request.GET)
    chosen = wizard.resolve(state, team, need="method")
    if chosen.missing:
        return back_to(chosen.missing, state, chosen.problem, request)
    inputs = _inputs(state, chosen, team)
    return _method_page(request, state, chosen, inputs, advanced_form(state, inputs))


# --- review and launch ----------------------------------------------------------------


class LaunchForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="How the job is listed; change it to anything you like.")


def _default_name(chosen: wizard.Choices) -> str:
    return f"{chosen.model.name} on {chosen.dataset.name}"[:200]


def _chosen_params(
    state: wizard.State, inputs: dict
) -> tuple[dict | None, params.AdvancedForm, list[str]]:
    """The preset's parameters with the advanced settings on top; None and the form with its
    errors when a setting is invalid."""
    recipe = inputs["options"][state.preset]["recipe"]
    several = _several_processes(inputs["profile"])
    fields = params.fields_for(recipe.method, recipe.objective, several_processes=several)
    form = advanced_form(state, inputs, fields)
    if form.is_bound and not form.is_valid():
        return None, form, []
    overrides = form.overrides() if form.is_bound else {}
    try:
        return params.with_overrides(recipe.params, recipe.method, overrides), form, sorted(overrides)
    except params.ParamsInvalid as exc:
        for name, message in exc.errors.items():
            form.add_error(name if name in form.fields else None, message)
        return None, form, []


def _reward_preview(request: HttpRequest, chosen: wizard.Choices, params: dict) -> dict:
    """A grpo job's check of the base model's answers, run when the user asks for it (a GET link)."""
    if params.get("objective") != "grpo":
        return {}
    grpo = params["grpo"]
    context = {"reward_names": [r["name"] for r in grpo["rewards"]], "preview_limit": reward_preview.PROMPTS,
               "preview_refused": reward_preview.too_big(chosen.model)}  # fmt: skip
    if request.method == "GET" and request.GET.get("preview") == "rewards":
        context["reward_preview"] = reward_preview.run(
            chosen.model, chosen.dataset, grpo["rewards"], grpo["max_completion_length"]
        )
    return context


def _launch(request, membership, chosen, launch, method: str, params: dict):
    """Create the job through the launch path; nothing is kept if refused, and each problem comes
    back under the advanced form's field it is about (None: the whole choice)."""
    params = dict(params)
    objective = params.pop("objective", "sft")
    try:
        job = launch_training(
            team=membership.team,
            user=request.user,
            name=launch.cleaned_data["name"],
            base_model=chosen.model,
            dataset=chosen.dataset,
            params=params,
            method=method,
            objective=objective,
        )
    except LaunchRefused as exc:
        found = errors.by_field(exc, errors.train_form_field(method))
        return None, {field: "; ".join(messages) for field, messages in found.items()}
    return job, {}


def _labels(dataset: Dataset, objective: str) -> list[str]:
    if objective != "classification":
        return []
    try:
        return [count.label for count in task_preview.label_counts(dataset)[0]]
    except preview.PreviewUnavailable:
        return []


def _review_context(chosen: wizard.Choices, inputs: dict, method: str, params: dict) -> dict:
    ratios = timing.measured_ratios(inputs["profile"])
    plan = presets.plan(
        method,
        params,
        facts=inputs["facts"],
        rows=chosen.dataset.row_count,
        mean_tokens=inputs["mean_tokens"],
        profile=inputs["profile"],
    )
    parts = plan.fit.memory.parts() if plan.fit else []
    if method == "full":  # every weight trains: the "adapter" is the fp32 copy the optimizer updates
        names = {
            "model weights (frozen)": "model weights",
            "adapter weights": "fp32 copy of the trained weights",
        }
        parts = [(names.get(label, label), n) for label, n in parts]
    objective = params.get("objective", "sft")
    sentences = words.plan_sentences(
        objective=objective,
        method=method,
        params=params,
        plan=plan,
        model=chosen.model,
        dataset=chosen.dataset,
        labels=_labels(chosen.dataset, objective),
    )
    return {
        "goal": chosen.goal,
        "dataset": chosen.dataset,
        "model": chosen.model,
        "params": params,
        "plan": plan,
        "sentences": sentences,
        "method_entry": catalogue.get(method),
        "objective_title": OBJECTIVE_TITLES[objective],
        "profile": inputs["profile"],
        "shape": shape.plan(chosen.model, inputs["profile"], method, params),
        "time_text": timing.range_text(timing.of_plan(plan, ratios)),
        "time_runs": len(ratios),
        "sampled": len(inputs["lengths"]),
        "over": sum(length > params["training"]["max_seq_length"] for length in inputs["lengths"]),
        "memory_parts": [(label, human_bytes(size)) for label, size in parts if size],
    }


@login_required
def review_step(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    posted = request.method == "POST"
    state = wizard.State.from_query(request.POST if posted else request.GET)
    chosen = wizard.resolve(state, membership.team, need="review")
    if chosen.missing:
        return back_to(chosen.missing, state, chosen.problem, request)
    inputs = _inputs(state, chosen, membership.team)
    option = inputs["options"][state.preset]
    method = option["recipe"].method
    params, form, customised = _chosen_params(state, inputs)
    if params is None:
        return _method_page(request, state, chosen, inputs, form)
    launch = LaunchForm(request.POST if posted else None, initial={"name": _default_name(chosen)})
    if posted:
        require_launch(membership)
        if launch.is_valid():
            job, problems = _launch(request, membership, chosen, launch, method, params)
            if job is not None:
                messages.success(request, f"“{job.name}” is queued; this page follows it as it runs.")
                return redirect("jobs:job_detail", pk=job.pk)
            form = advanced_form(state, inputs, bound=True)
            form.is_valid()
            for name, message in problems.items():
                form.add_error(name if name in form.fields else None, message)
            return _method_page(request, state, chosen, inputs, form)
    context = _review_context(chosen, inputs, method, params)
    context |= {"preset": option["preset"], "launch": launch, "customised": customised}
    context |= _reward_preview(request, chosen, params)
    return page(request, "jobs/wizard/review.html", "review", state, **context)
