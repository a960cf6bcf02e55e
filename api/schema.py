"""OpenAPI generation: the bearer scheme, and problem+json responses on every operation.

drf-spectacular documents the success responses from the serializers; ``HoneAutoSchema``
adds the errors the API can answer with, all in the one problem format, so generated
clients and schemathesis know every status code a call may return.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import serializers

from api.problems import CONTENT_TYPE

DESCRIPTIONS = {
    400: "Invalid input: `errors` names each offending field.",
    401: "No valid credentials: send `Authorization: Bearer <token>`.",
    403: "Signed in, but not allowed (a viewer changing something; not a member of any team).",
    404: "No such object in this team (other teams' objects are 404 too).",
    409: "Conflicts with the object's state (e.g. cancelling a finished job, deleting a used dataset).",
    413: "The request body is too large.",
    415: "Unsupported Content-Type.",
    416: "The requested range is outside the file.",
    422: "Refused: an Idempotency-Key reused with a different request, or data that failed checks.",
    429: "Rate limit reached: retry after `Retry-After` seconds.",
}


class ProblemErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Dotted path, e.g. params.training.epochs.")
    message = serializers.CharField()
    code = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details. Some problems add members, e.g. `report` for a refused dataset."""

    type = serializers.CharField(help_text="about:blank, or a urn:hone:problem:… naming the problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemErrorSerializer(many=True)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object("Authorization", "Bearer", bearer_format="hone_pat_…")
        scheme["description"] = "A personal access token, made on the API tokens page (/settings/tokens/)."
        return scheme


class HoneAutoSchema(AutoSchema):
    def _problem_codes(self) -> list[int]:
        view = self.view
        if not getattr(view, "documents_problems", True):
            return []
        codes = [400, 401, 403, 429]
        if "{" in self.path:
            codes.append(404)
        if self.method in ("POST", "PUT", "PATCH"):
            codes += [413, 415]
        codes += getattr(view, "extra_problems", {}).get(self.method, [])
        return sorted(set(codes))

    def _problem(self, code: int | str, description: str) -> dict:
        response = self._get_response_for_code(ProblemSerializer, str(code), media_types=[CONTENT_TYPE])
        response["description"] = description
        return response

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._problem_codes():
            responses.setdefault(str(code), self._problem(code, DESCRIPTIONS[code]))
        if "429" in responses:
            responses["429"]["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        if self._problem_codes():
            responses["default"] = self._problem("default", "Any other error, in the same problem format.")
        return responses
