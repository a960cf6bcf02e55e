"""OpenAI's error shape for every refusal: ``{"error": {"message", "type", "param", "code"}}``.

The official client picks its exception class from the HTTP status (400 BadRequestError, 401
AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 413/422
UnprocessableEntityError, 429 RateLimitError) and reads ``message``, ``param`` and ``code`` from
the body; ``param`` names the field (``hyperparameters.n_epochs``, ``training_file``) and, for a
file, the message names the line and field of each problem.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from api import problems

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIError(exceptions.APIException):
    """A refusal with OpenAI's ``param`` and ``code``."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class InvalidRequest(OpenAIError):
    status_code = status.HTTP_400_BAD_REQUEST


class Forbidden(OpenAIError):
    status_code = status.HTTP_403_FORBIDDEN


class NotFound(OpenAIError):
    status_code = status.HTTP_404_NOT_FOUND


class Busy(OpenAIError):
    """The model is generating for someone else: the client retries a 503 by itself."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def body(status_code: int, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    return problems.writable(
        {
            "error": {
                "message": message,
                "type": TYPES.get(
                    status_code, "server_error" if status_code >= 500 else "invalid_request_error"
                ),
                "param": param,
                "code": code,
            }
        }
    )


def exception_handler(exc: Exception, context: dict):
    exc = problems._translate(exc)  # Django's refusals of a body (too large, too many fields) as API errors
    response = drf_exception_handler(exc, context)  # status, WWW-Authenticate, Retry-After, rollback
    if response is None:
        return None  # a bug, not bad input: a 500, logged
    if isinstance(exc, OpenAIError):
        data = body(response.status_code, str(exc.detail), param=exc.param, code=exc.code)
    elif isinstance(exc, exceptions.ValidationError):
        errors = problems.flatten(exc.detail)
        first = errors[0] if errors else {"field": None, "message": "Invalid request.", "code": "invalid"}
        message = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        data = body(
            response.status_code, message or first["message"], param=first["field"], code=first["code"]
        )
    else:
        data = body(response.status_code, str(exc.detail), code=getattr(exc, "default_code", None))
    response.data = data
    response.content_type = "application/json"
    return response


@csrf_exempt  # any method gets the same 404; there is nothing here to protect
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    message = f"Hone's OpenAI-compatible API has no route {request.method} {request.path}."
    return JsonResponse(body(404, message, code="unknown_url"), status=404)
