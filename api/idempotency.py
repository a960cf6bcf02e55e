"""``Idempotency-Key`` on POSTs that create things.

The same key with the same request replays the first response (with ``Idempotent-Replayed:
true``); the same key with a different request is a 422. Keys are scoped to the team and the
principal (a token, or a signed-in user), and kept for ``HONE_IDEMPOTENCY_HOURS``.

Secrets are never stored: a replay body is kept without its secret fields (a webhook's
signing secret), and the secret is derived again from the object when it is replayed. A key
whose object has been deleted since replays nothing: it is a 409, so a retry can never hand
out a body (or a secret) for something that no longer exists.

Concurrency: the key's row is inserted in the same transaction that creates the object. A
second request with the same key blocks on the unique index until the first commits, then
finds the row and replays it; if the first rolled back, the second goes ahead. So two
requests never create two objects. Only successes are remembered: a request refused with a
4xx leaves no trace, and may be corrected and sent again with the same key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import acting_membership, principal
from api.models import IdempotencyKey
from api.problems import IdempotencyKeyReused, IdempotencyTargetGone

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
SECRET_FIELDS = ("secret",)  # never stored in a replay body


def _webhook_secret(endpoint) -> dict:
    from api.webhooks import secret_for

    return {"secret": secret_for(endpoint)}


def _located() -> dict:
    """What a replay's Location points at, by route: (model, URL argument, fields derived again)."""
    from api.models import WebhookEndpoint
    from jobs.models import Dataset, Job, ModelAsset

    return {
        "api:dataset-detail": (Dataset, "dataset_id", None),
        "api:model-detail": (ModelAsset, "model_id", None),
        "api:job-detail": (Job, "job_id", None),
        "api:webhook-detail": (WebhookEndpoint, "webhook_id", _webhook_secret),
    }


def _file_digest(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return digest.hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, UploadedFile):
        return {"file": value.name, "bytes": value.size, "sha256": _file_digest(value)}
    return value


def fingerprint(request: Request) -> str:
    """sha256 of the method, the path and the parsed body (uploads by content, not by boundary)."""
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict (form or multipart): every value of every key
        content = {key: [_canonical(v) for v in values] for key, values in sorted(data.lists())}
    else:
        content = data
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{request.method} {request.path}\n{text}".encode()).hexdigest()


def _key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise exceptions.ValidationError(
            {HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable characters, e.g. a UUID"]}
        )
    return key


def _replay(record: IdempotencyKey, fingerprint_: str) -> Response:
    if record.fingerprint != fingerprint_:
        raise IdempotencyKeyReused(
            f"This Idempotency-Key was first used for a different request ({record.method} "
            f"{record.path}); use a new key for a new request."
        )
    body = (
        {**record.response_body, **_still_there(record)}
        if isinstance(record.response_body, dict)
        else (record.response_body)
    )
    headers = {"Idempotent-Replayed": "true"}
    if record.response_location:
        headers["Location"] = record.response_location
    return Response(body, status=record.response_status, headers=headers)


def _still_there(record: IdempotencyKey) -> dict:
    """The fields to derive again for the object the key created; IdempotencyTargetGone if it is gone."""
    try:
        match = resolve(record.response_location) if record.response_location else None
    except Resolver404:
        match = None
    if match is None or match.view_name not in _located():
        return {}
    model, argument, derive = _located()[match.view_name]
    found = model.objects.filter(pk=match.kwargs[argument], team=record.team).first()
    if found is None:
        raise IdempotencyTargetGone(
            f"This Idempotency-Key created {record.response_location}, which has been deleted since; "
            "send the request with a new key to create another."
        )
    return derive(found) if derive else {}


def _redacted(data: object) -> object:
    body = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in SECRET_FIELDS}
    return body


def idempotent(handler):
    """Wrap a view's ``post`` so that an Idempotency-Key makes it safe to retry."""

    @functools.wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs):
        key = _key(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        team = acting_membership(request).team
        fingerprint_ = fingerprint(request)
        scope = {"team": team, "principal": principal(request), "key": key}
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        **scope, fingerprint=fingerprint_, method=request.method, path=request.path[:500]
                    )
            except IntegrityError:  # seen before (if it was in flight, we waited for it to commit)
                return _replay(IdempotencyKey.objects.get(**scope), fingerprint_)
            response = handler(view, request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = _redacted(response.data)
            record.response_location = response.headers.get("Location", "")[:500]
            record.save(update_fields=["response_status", "response_body", "response_location"])
        return response

    return wrapper


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.HONE_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
