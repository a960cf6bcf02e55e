"""One error format for the whole API: RFC 9457 problem details (``application/problem+json``).

Every error body has ``type``, ``title``, ``status``, ``detail`` and ``errors`` (a list of
``{field, message, code}`` with dotted field paths such as ``params.training.learning_rate``
or ``events[3].seq``). Django's own refusals (a body too large, too many fields) are
translated so that no bad input ever becomes a 500.
"""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import (
    PermissionDenied as DjangoPermissionDenied,
)
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from trainers.text_checks import escape_unstorable

CONTENT_TYPE = "application/problem+json"
VALIDATION = "urn:hone:problem:validation"


class Problem(exceptions.APIException):
    """An APIException with a problem type and extra members for the body."""

    problem_type = "about:blank"

    def __init__(self, detail: str | None = None, *, errors: list[dict] | None = None, **extra) -> None:
        super().__init__(detail)
        self.errors = errors or []
        self.extra = extra


class Conflict(Problem):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"
    problem_type = "urn:hone:problem:conflict"


class PayloadTooLarge(Problem):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"
    problem_type = "urn:hone:problem:too-large"


class Unprocessable(Problem):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request is well-formed but cannot be processed."
    default_code = "unprocessable"


class DatasetRejected(Unprocessable):
    default_code = "dataset_rejected"
    problem_type = "urn:hone:problem:dataset-rejected"


class IdempotencyKeyReused(Unprocessable):
    default_code = "idempotency_key_reused"
    problem_type = "urn:hone:problem:idempotency-key-reused"


class IdempotencyTargetGone(Conflict):
    default_code = "idempotency_target_gone"
    problem_type = "urn:hone:problem:idempotency-target-gone"


class RangeNotSatisfiable(Problem):
    status_code = status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE
    default_detail = "The requested range is not within the file."
    default_code = "range_not_satisfiable"


def _translate(exc: Exception) -> Exception:
    """Django's refusals of a request body, as API errors."""
    from jobs.data.datasets import UploadTooLarge  # raised while a multipart body is read

    if isinstance(exc, UploadTooLarge):
        return PayloadTooLarge(str(exc))
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge("The request body is larger than this server accepts.")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return exceptions.ParseError("The request has too many form fields or files.")
    if isinstance(exc, UnreadablePostError):
        return exceptions.ParseError("The request body could not be read to the end.")
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError("The request was refused as malformed.")
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


def flatten(detail: object, path: str = "") -> list[dict]:
    """DRF's nested error detail as a flat list of ``{field, message, code}``."""
    if isinstance(detail, dict):
        found = []
        for key, value in detail.items():
            if isinstance(key, int):
                child = f"{path}[{key}]"
            elif key in ("non_field_errors", "__all__"):
                child = path
            else:
                child = f"{path}.{key}" if path else str(key)
            found += flatten(value, child)
        return found
    if isinstance(detail, list):
        found = []
        for index, item in enumerate(detail):
            # A list of messages belongs to ``path``; a list of objects is per item (many=True).
            found += flatten(item, f"{path}[{index}]" if isinstance(item, dict | list) else path)
        return found
    return [{"field": path or None, "message": str(detail), "code": getattr(detail, "code", "invalid")}]


def _summary(errors: list[dict]) -> str:
    first = errors[0]
    text = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    more = len(errors) - 1
    return f"{text} (and {more} more problem{'s' if more > 1 else ''})" if more else text


def writable(value: object) -> object:
    """``value`` with lone surrogates and NUL characters escaped: an error message quoting the
    user's input (``unknown method '\ud800'``) must still encode as UTF-8."""
    if isinstance(value, str):
        return escape_unstorable(value)
    if isinstance(value, dict):
        return {writable(key): writable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [writable(item) for item in value]
    return value


def body(status_code: int, detail: str, *, type_: str = "about:blank", errors=(), **extra) -> dict:
    return writable(
        {
            "type": type_,
            "title": HTTPStatus(status_code).phrase,
            "status": status_code,
            "detail": detail,
            "errors": list(errors),
            **extra,
        }
    )


def exception_handler(exc: Exception, context: dict):
    exc = _translate(exc)
    response = drf_exception_handler(exc, context)  # status, WWW-Authenticate, Retry-After, rollback
    if response is None:
        return None  # a bug, not bad input: let it be a 500 and be logged
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        data = body(
            response.status_code,
            _summary(errors) if errors else "Invalid input.",
            type_=VALIDATION,
            errors=errors,
        )
    elif isinstance(exc, Problem):
        data = body(
            response.status_code, str(exc.detail), type_=exc.problem_type, errors=exc.errors, **exc.extra
        )
    else:
        data = body(response.status_code, str(exc.detail))
    response.data = data
    response.content_type = CONTENT_TYPE
    return response


def problem_response(status_code: int, detail: str, **extra) -> JsonResponse:
    """A problem response outside DRF views (unknown API paths)."""
    return JsonResponse(body(status_code, detail, **extra), status=status_code, content_type=CONTENT_TYPE)


@csrf_exempt  # any method gets the same 404; there is nothing here to protect
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return problem_response(404, f"There is no API endpoint at {request.path}; see /api/v1/docs/.")


def server_error(request: HttpRequest, *args, **kwargs):
    """Django's 500 handler: a problem for API paths, the usual page everywhere else."""
    detail = "Something went wrong on Hone's side; it has been logged. Try again, or tell an operator."
    if request.path.startswith("/api/"):
        return problem_response(500, detail)
    if request.path.startswith("/openai/"):  # OpenAI's error shape (api/openai_compat/errors.py)
        error = {"message": detail, "type": "server_error", "param": None, "code": None}
        return JsonResponse({"error": error}, status=500)
    return defaults.server_error(request, *args, **kwargs)
