"""The API's records: personal access tokens, idempotency keys, webhook endpoints and deliveries.

No secret is stored in plaintext: a token is kept as its sha256, and a webhook's signing
secret is derived from SECRET_KEY and a random salt whenever it is needed (api/webhooks.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models import JobTransition, Team


class ApiToken(models.Model):
    """A personal access token: acts as its user, in one team, with the user's role there."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'nightly CI'.")
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the token.")
    hint = models.CharField(max_length=20, help_text="The token's first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "team"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class IdempotencyKey(models.Model):
    """The first successful response to a create request sent with an ``Idempotency-Key``.

    Unique per team and principal (a token, or a signed-in user), so two clients never share
    keys. The row is inserted in the same transaction as the object it creates: a concurrent
    request with the same key waits on the unique index, then replays this response."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    principal = models.CharField(max_length=40, help_text="token:<id> or user:<id>.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body.")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    response_status = models.PositiveSmallIntegerField(default=0)
    response_body = models.JSONField(default=dict)
    response_location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "principal", "key"], name="one_response_per_idempotency_key"
            )
        ]


class WebhookEndpoint(models.Model):
    """A URL of a team's that receives signed JSON when one of the team's jobs changes state."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret_salt = models.CharField(max_length=64, help_text="With SECRET_KEY, derives the signing secret.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One transition sent to one endpoint: the exact body, and how sending it has gone."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    transition = models.ForeignKey(JobTransition, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=40, default="job.status_changed")
    body = models.TextField(help_text="The JSON sent, byte for byte the same on every attempt.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "transition"], name="one_delivery_per_transition")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]


class SweepCursor(models.Model):
    """How far a periodic sweep has read an append-only table (by primary key)."""

    name = models.CharField(max_length=50, unique=True)
    position = models.BigIntegerField(default=0)


class OpenAIFineTune(models.Model):
    """What a fine-tuning job made through the OpenAI-compatible API asked for beyond a Hone job:
    the suffix of its model's id, the caller's metadata and the method and hyperparameters as given
    (``"auto"`` included), which the job's object reports back."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="openai")
    suffix = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    method = models.CharField(max_length=20, default="supervised")
    hyperparameters = models.JSONField(default=dict, blank=True)
    grader = models.JSONField(default=dict, blank=True)  # method.reinforcement.grader as given

    def __str__(self) -> str:
        return f"job {self.job_id} ({self.suffix or 'no suffix'})"
