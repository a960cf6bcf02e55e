"""Machine endpoints. The ingest endpoint is authenticated by the per-attempt events token."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs.lifecycle import ingest, services
from jobs.models import Attempt


def _problem(status: int, title: str, detail: str) -> JsonResponse:
    # The API's one error format (api/problems.py): `errors` is there even when empty.
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "errors": []}
    return JsonResponse(body, status=status, content_type="application/problem+json")


@csrf_exempt
@require_POST
def ingest_events(request: HttpRequest, job_id: int, number: int) -> JsonResponse:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    attempt = Attempt.objects.filter(job_id=job_id, number=number).first()
    # The same answer for a wrong token and an unknown attempt: nothing to probe.
    if attempt is None or not services.verify_token(attempt, token):
        return _problem(401, "Unauthorized", "a valid events token for this attempt is required")
    try:
        body = json.loads(request.body)
        events = ingest.parse_events(body.get("events") if isinstance(body, dict) else None)
    except (ValueError, ingest.BadEvents) as exc:
        return _problem(400, "Bad events", str(exc))
    accepted = ingest.ingest(attempt, events)
    return JsonResponse({"received": len(events), "new": accepted})
