"""The browser pages for API tokens and webhooks (under Settings)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from api import ssrf, tokens, webhooks
from api.forms import TokenForm, WebhookForm
from api.models import ApiToken, WebhookEndpoint
from jobs.models import Membership
from jobs.teams.access import current_membership

DELIVERIES_SHOWN = 50


def _require_owner(membership: Membership) -> None:
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only the team's owners can change its webhooks.")


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    form, new_token = TokenForm(), None
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            _record, new_token = tokens.issue(
                user=request.user,
                team=membership.team,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
            )
            form = TokenForm()
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": ApiToken.objects.filter(user=request.user, team=membership.team),
        "membership": membership,
    }
    response = render(request, "api/token_list.html", context)
    add_never_cache_headers(response)  # the page may hold a token: no cache keeps it
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    token = get_object_or_404(ApiToken, pk=pk, user=request.user, team=membership.team)
    if tokens.revoke(token):
        messages.success(request, f"“{token.name}” is revoked; requests with it are refused from now on.")
    return redirect("api_ui:token_list")


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    form = WebhookForm()
    if request.method == "POST":
        _require_owner(membership)
        form = WebhookForm(request.POST)
        if form.is_valid():
            try:
                endpoint = webhooks.create_endpoint(
                    team=membership.team, user=request.user, **form.cleaned_data
                )
            except ssrf.UnsafeUrl as exc:
                form.add_error("url", str(exc))
            else:
                messages.success(request, "The endpoint is added. Copy its signing secret below.")
                return redirect("api_ui:webhook_detail", pk=endpoint.pk)
    endpoints = WebhookEndpoint.objects.filter(team=membership.team)
    context = {"form": form, "endpoints": endpoints, "is_owner": membership.role == Membership.Role.OWNER}
    return render(request, "api/webhook_list.html", context)


@login_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, team=membership.team)
    is_owner = membership.role == Membership.Role.OWNER
    deliveries = endpoint.deliveries.select_related("transition")[:DELIVERIES_SHOWN]
    context = {
        "endpoint": endpoint,
        "deliveries": deliveries,
        "is_owner": is_owner,
        "secret": webhooks.secret_for(endpoint) if is_owner else None,
        "signature_header": webhooks.SIGNATURE_HEADER,
    }
    response = render(request, "api/webhook_detail.html", context)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, team=membership.team)
    _require_owner(membership)
    endpoint.delete()
    messages.success(request, f"{endpoint.url} is removed; it receives nothing more.")
    return redirect("api_ui:webhook_list")


@login_required
@require_POST
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, team=membership.team)
    _require_owner(membership)
    webhooks.rotate_secret(endpoint)
    messages.success(
        request, "A new signing secret is in use from the next delivery on; update your receiver."
    )
    return redirect("api_ui:webhook_detail", pk=endpoint.pk)
