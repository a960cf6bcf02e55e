"""A team's saved presets: a training method, objective and parameters kept under a name, such as a
sweep's best trial, to start new training jobs from (``jobs/new/?preset=<id>``) beside the built-in
quick / balanced / best-quality presets (``jobs.guided.presets``). Re-exported by ``jobs.models``."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TeamPreset(models.Model):
    team = models.ForeignKey("jobs.Team", on_delete=models.CASCADE, related_name="presets")
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=30)
    objective = models.CharField(max_length=30)
    params = models.JSONField(default=dict, help_text="The training parameters, as a job's params.")
    source_job = models.ForeignKey(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The job whose settings these are (a sweep's best trial).",
    )
    value = models.FloatField(null=True, blank=True, help_text="The metric its source job reached.")
    metric = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="team_preset_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.method}, {self.objective})"
