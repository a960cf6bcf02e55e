"""Helpers for the API tests: real personal access tokens, and quick ways to make jobs and
attempts without running a trainer."""

from __future__ import annotations

import hashlib

from rest_framework.test import APIClient


def token_for(user, team, **kwargs) -> str:
    from api import tokens

    return tokens.issue(user=user, team=team, name=kwargs.pop("name", "test"), **kwargs)[1]


def client_for(user, team, **kwargs) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, team, **kwargs)}")
    return client


def full_params() -> dict:
    from trainers.spec import LoraParams, TrainingParams

    return {
        "lora": LoraParams(r=4).model_dump(mode="json"),
        "training": TrainingParams(epochs=1).model_dump(mode="json"),
    }


def make_job(team, user, model, dataset, *, status: str = "queued", name: str = "job", **fields):
    from jobs.models import Job

    return Job.objects.create(
        team=team,
        created_by=user,
        name=name,
        base_model=model,
        dataset=dataset,
        params=full_params(),
        status=status,
        **fields,
    )


def make_attempt(job, number: int = 1, status: str = "running"):
    from jobs.models import Attempt

    return Attempt.objects.create(
        job=job, number=number, executor="local", status=status, token_hash=hashlib.sha256(b"x").hexdigest()
    )


def problem(response, status: int) -> dict:
    """The problem body of an error response, after checking its status and media type."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "errors"} <= body.keys()
    assert body["status"] == status
    return body


def fields(body: dict) -> dict:
    """{field path: message} of a problem's errors."""
    return {error["field"]: error["message"] for error in body["errors"]}
