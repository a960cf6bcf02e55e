"""What every ``/openai/v1/`` view shares with the REST API — the personal access token as the API
key, team scoping, roles, rate limits — and what OpenAI's API does its own way: the error shape,
``{"object": "list", "data", "has_more"}`` listings paged by ``after`` and ``limit``."""

from __future__ import annotations

from django.db.models import Model, QuerySet
from rest_framework import generics
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from api.auth import BearerTokenAuthentication, CanLaunchOrReadOnly, TeamMember, acting_membership
from api.base import LimitedJSONParser
from api.openai_compat import errors
from api.throttling import TokenRateThrottle
from jobs.models import Membership, Team

MAX_LIMIT = 100


class JSONWhateverAccepted(DefaultContentNegotiation):
    """Always JSON: the client asks for a file's content with ``Accept: application/binary``, and errors
    must still reach it in OpenAI's shape."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OpenAIView(generics.GenericAPIView):
    # The API key is the token; a browser session (and its CSRF dance) has no place in a client SDK.
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [TeamMember, CanLaunchOrReadOnly]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONWhateverAccepted
    schema = None  # OpenAI's own specification describes these routes, not Hone's OpenAPI document

    def get_exception_handler(self):
        return errors.exception_handler

    @property
    def membership(self) -> Membership:
        return acting_membership(self.request)

    @property
    def team(self) -> Team:
        return self.membership.team

    def found(
        self, queryset: QuerySet, pk: int | None, what: str, given: str, param: str | None = None
    ) -> Model:
        """The object ``pk`` of ``queryset`` (already scoped to the team), else OpenAI's 404."""
        found = queryset.filter(pk=pk).first() if pk is not None else None
        if found is None:
            raise errors.NotFound(f"No such {what}: '{given}'.", param=param, code=f"{what}_not_found")
        return found


def limit_of(request: Request, default: int = 20) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise errors.InvalidRequest(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got '{raw}'.",
            param="limit",
            code="invalid_limit",
        )
    return int(raw)


def page(request: Request, queryset: QuerySet, render, *, after_pk: int | None, default: int = 20) -> dict:
    """Newest first; ``after`` continues below the item it names, as OpenAI's cursor pages do."""
    limit = limit_of(request, default)
    rows = queryset.order_by("-pk")
    if after_pk is not None:
        rows = rows.filter(pk__lt=after_pk)
    items = list(rows[: limit + 1])
    data = [render(item) for item in items[:limit]]
    return {
        "object": "list",
        "data": data,
        "has_more": len(items) > limit,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def after_of(request: Request, parse) -> int | None:
    """The ``after`` cursor's record id; a cursor that is not one of this listing's ids is a 400."""
    raw = request.query_params.get("after")
    if raw is None:
        return None
    pk = parse(raw)
    if pk is None:
        raise errors.InvalidRequest(f"after must be an id from this listing, got '{raw}'.", param="after")
    return pk
