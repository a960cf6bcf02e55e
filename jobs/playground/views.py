"""The playground pages: try a model the team can see, with its base side by side.

The form posts normally and the page shows the finished answers (no JavaScript needed); with
JavaScript a small page script posts the same form to the streaming endpoint and shows the
tokens as they come, one JSON object per line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from jobs.models import ModelAsset
from jobs.playground import generation
from jobs.teams.access import current_membership
from jobs.web.text import human_count


class GenerateForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[
            ("chat", "Chat: your prompt is a message, answered through the model's chat template"),
            ("complete", "Complete: the model continues your text as written"),
        ],
        initial="chat",
        widget=forms.RadioSelect,
        label="How to prompt",
    )
    system = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="System message",
        help_text="Optional, chat only: how the assistant should behave.",
    )
    prompt = forms.CharField(
        max_length=generation.MAX_PROMPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Up to {generation.MAX_PROMPT_CHARS:,} characters "
        f"and {generation.MAX_PROMPT_TOKENS:,} tokens.",
    )
    decoding = forms.ChoiceField(
        choices=[
            ("greedy", "Greedy: always the most likely next token; the same prompt gives the same answer"),
            ("sample", "Sample: more varied answers, at the temperature below"),
        ],
        initial="greedy",
        widget=forms.RadioSelect,
    )
    temperature = forms.FloatField(
        min_value=0.05,
        max_value=2.0,
        initial=0.7,
        required=False,
        help_text="When sampling: lower is more focused, higher more surprising. 0.05 to 2.",
    )
    max_new_tokens = forms.IntegerField(
        min_value=1,
        max_value=generation.MAX_NEW_TOKENS,
        initial=64,
        label="Max new tokens",
        help_text=f"The answer stops here at the latest; at most {generation.MAX_NEW_TOKENS}.",
    )
    compare = forms.BooleanField(
        required=False, initial=True, label="Also answer with the base model, side by side"
    )

    def settings(self) -> generation.Settings:
        data = self.cleaned_data
        sampling = data["decoding"] == "sample"
        return generation.Settings(
            mode=data["mode"],
            prompt=data["prompt"],
            system=data["system"] if data["mode"] == "chat" else "",
            max_new_tokens=data["max_new_tokens"],
            temperature=(data["temperature"] or 0.7) if sampling else 0.0,
        )


class ClassifyForm(forms.Form):
    text = forms.CharField(
        max_length=generation.MAX_PROMPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The text to put into one of the model's categories.",
    )


def _model(request: HttpRequest, pk: int) -> ModelAsset:
    team = current_membership(request).team
    queryset = ModelAsset.objects.visible_to(team).select_related("adapter_base")
    return get_object_or_404(queryset, pk=pk)


def _sides(model: ModelAsset, compare: bool) -> list[tuple[str, ModelAsset, bool]]:
    """(side, model to load, adapter on) for each answer to produce."""
    sides = [("model", model, True)]
    base = generation.base_of(model) if compare else None
    if base is not None:
        # An adapter's base is the same loaded weights with the adapter switched off.
        sides.append(("base", model if model.format == ModelAsset.Format.ADAPTER else base, False))
    return sides


def _context(model: ModelAsset, **extra) -> dict:
    base = generation.base_of(model)
    return {
        "model": model,
        "base": base,
        "unsupported": generation.unsupported_reason(model),
        "is_classifier": model.task == ModelAsset.Task.CLASSIFICATION,
        "parameters_text": human_count(model.parameter_count),
        **extra,
    }


@login_required
def playground_page(request: HttpRequest, pk: int) -> HttpResponse:
    model = _model(request, pk)
    if model.task == ModelAsset.Task.CLASSIFICATION:
        return _classify_page(request, model)
    form = GenerateForm(request.POST or None)
    answers = []
    if request.method == "POST" and form.is_valid() and not generation.unsupported_reason(model):
        try:
            for side, asset, adapter in _sides(model, form.cleaned_data["compare"]):
                text, seconds = generation.run(generation.load(asset), form.settings(), adapter=adapter)
                answers.append({"side": side, "text": text, "seconds": round(seconds, 1)})
        except generation.PlaygroundError as exc:
            form.add_error("prompt", str(exc))
    return render(request, "jobs/playground.html", _context(model, form=form, answers=answers))


def _classify_page(request: HttpRequest, model: ModelAsset) -> HttpResponse:
    form = ClassifyForm(request.POST or None)
    labels = []
    if request.method == "POST" and form.is_valid():
        try:
            labels = generation.classify(generation.load(model), form.cleaned_data["text"])
        except generation.PlaygroundError as exc:
            form.add_error("text", str(exc))
    return render(request, "jobs/playground.html", _context(model, form=form, labels=labels))


def _lines(model: ModelAsset, form: GenerateForm) -> Iterator[str]:
    for side, asset, adapter in _sides(model, form.cleaned_data["compare"]):
        started = time.monotonic()
        try:
            loaded = generation.load(asset)
            for piece in generation.stream(loaded, form.settings(), adapter=adapter):
                yield json.dumps({"side": side, "text": piece}) + "\n"
        except generation.PlaygroundError as exc:
            yield json.dumps({"side": side, "error": str(exc)}) + "\n"
            return
        except Exception as exc:  # a streamed response has no error page; say it in the stream
            yield json.dumps({"side": side, "error": f"The model stopped unexpectedly: {exc}"}) + "\n"
            return
        yield json.dumps({"side": side, "done": True, "seconds": round(time.monotonic() - started, 1)}) + "\n"


@login_required
@require_POST
def playground_stream(request: HttpRequest, pk: int) -> HttpResponse:
    model = _model(request, pk)
    reason = generation.unsupported_reason(model)
    if model.task == ModelAsset.Task.CLASSIFICATION:
        reason = "Classifiers answer on the page itself; post the form there."
    if reason:
        return JsonResponse({"errors": {"__all__": [{"message": reason}]}}, status=400)
    form = GenerateForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    response = StreamingHttpResponse(_lines(model, form), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies such as nginx must pass each line on at once
    return response
