"""The team page's presets section: the team's saved presets (a sweep's best settings), renamed or
deleted by the members who may launch. Jobs started from a preset keep their own parameters."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from jobs.models import TeamPreset
from jobs.sweeps import presets
from jobs.teams.access import current_membership, require_launch


def _team_preset(request: HttpRequest, pk: int) -> TeamPreset:
    """The current team's preset ``pk`` (404 for another team's), for a member who may launch."""
    mine = current_membership(request)
    preset = get_object_or_404(TeamPreset, pk=pk, team=mine.team)
    require_launch(mine)
    return preset


@login_required
@require_POST
def preset_rename(request: HttpRequest, pk: int) -> HttpResponse:
    preset = _team_preset(request, pk)
    old = preset.name
    try:
        presets.rename(preset, request.POST.get("name", ""))
    except presets.PresetRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{old}” is now “{preset.name}”.")
    return redirect("teams:team")


@login_required
@require_POST
def preset_delete(request: HttpRequest, pk: int) -> HttpResponse:
    preset = _team_preset(request, pk)
    preset.delete()
    done = f"The preset “{preset.name}” is deleted; jobs started from it keep their settings."
    messages.success(request, done)
    return redirect("teams:team")
