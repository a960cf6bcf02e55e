"""What every step of the guided new job shares: the step list, redirects back, page rendering."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from jobs.data import preview
from jobs.guided import sizing, wizard
from jobs.models import Dataset, ModelAsset
from jobs.teams.access import current_membership


def steps(current: str, state: wizard.State, reached: str) -> list[dict]:
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


def back_to(step: str, state: wizard.State, problem: str, request: HttpRequest) -> HttpResponse:
    if problem:
        messages.info(request, problem)
    url = dict((key, url) for key, _title, url in wizard.STEPS)[step]
    return redirect(f"{reverse(url)}?{state.query()}")


def page(request: HttpRequest, template: str, step: str, state: wizard.State, **context) -> HttpResponse:
    membership = current_membership(request)
    context |= {
        "state": state,
        "steps": steps(step, state, context.pop("reached", step)),
        "hidden": state.items(without=context.pop("editing", ())),
        "can_launch": membership.can_launch,
    }
    return render(request, template, context)


def sampled_lengths(dataset: Dataset, model: ModelAsset) -> list[int]:
    try:
        return preview.token_lengths(dataset, model)
    except preview.PreviewUnavailable:
        return []


def chosen_max_length(state: wizard.State, lengths: list[int], facts: sizing.ModelFacts) -> int:
    recommended = preview.recommended_max_length(lengths, facts.max_positions)
    return preview.max_length_from({"max_length": state.max_length}, recommended)
