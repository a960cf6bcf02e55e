"""What every API view shares: authentication, team scoping, rate limits, JSON, problem errors."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from api import json_body, problems
from api.auth import BearerTokenAuthentication, CanLaunchOrReadOnly, TeamMember, acting_membership
from api.schema import HoneAutoSchema
from api.throttling import TokenRateThrottle
from jobs.models import Membership, Team


class LimitedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE; DRF alone would read any size into memory."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and length and length.isdigit() and int(length) > limit:
            raise problems.PayloadTooLarge(f"JSON bodies are limited to {limit // (1024 * 1024)} MB.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except exceptions.ParseError as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc.detail}") from None
        except RecursionError:
            raise exceptions.ParseError(
                f"The body is nested too deeply: at most {json_body.MAX_DEPTH} levels of JSON are accepted."
            ) from None
        json_body.check(data)
        return data


class Cursor(CursorPagination):
    """Newest first; ``cursor`` continues a listing, ``limit`` sets the page size (at most 200)."""

    ordering = ("-created_at", "-pk")
    page_size = 25
    page_size_query_param = "limit"
    max_page_size = 200
    invalid_cursor_message = "This cursor is not valid; start again from the first page."

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            message = f"must be a whole number from 1 to {self.max_page_size}"
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] |= {
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters

    def decode_cursor(self, request):
        """A malformed cursor is a 400 naming the parameter (DRF answers 404, or fails later)."""
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None and not parse_datetime(cursor.position):
                raise ValueError("not a position")
        except (exceptions.NotFound, ValueError):
            raise exceptions.ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}
            ) from None
        return cursor


class ApiView(generics.GenericAPIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [TeamMember, CanLaunchOrReadOnly]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [LimitedJSONParser]
    pagination_class = Cursor
    schema = HoneAutoSchema()
    # Extra problem statuses an operation documents, per HTTP method: {"POST": [409, 422]}.
    extra_problems: dict[str, list[int]] = {}

    def get_exception_handler(self):
        return problems.exception_handler

    @property
    def membership(self) -> Membership:
        return acting_membership(self.request)

    @property
    def team(self) -> Team:
        return self.membership.team

    def get_for_team(self, queryset: QuerySet, pk: int, what: str) -> Model:
        """The object with ``pk`` in ``queryset`` (already scoped to the team), else a 404."""
        found = queryset.filter(pk=pk).first()
        if found is None:
            raise exceptions.NotFound(f"There is no {what} #{pk} in {self.team.name}.")
        return found


def read_query(serializer_class, request) -> dict:
    """Validated query parameters. Unlike DRF's form handling, an empty value is a value (and
    usually an error), not a missing one: ``?status=`` is refused rather than ignored."""
    params = request.query_params
    data = {}
    for name, field in serializer_class().fields.items():
        if name in params:
            data[name] = params.getlist(name) if isinstance(field, serializers.ListField) else params[name]
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
