"""The audit log: every operator action in the console, every change made in the Django admin,
and every change to a team's members, with who did it and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditLog(models.Model):
    who = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    who_name = models.CharField(max_length=150, help_text="The username, kept if the account is deleted.")
    action = models.CharField(
        max_length=60, db_index=True, help_text="e.g. job.cancel, profile.hold, admin.change"
    )
    target_type = models.CharField(max_length=60, blank=True, help_text="e.g. job, compute profile, team")
    target_id = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=200, blank=True, help_text="What it acted on, in words.")
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.who_name} {self.action} {self.target}"
