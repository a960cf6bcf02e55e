"""Compute profiles: where and with what resources a job's attempts run, the queryset of those a
team may use, and the shape of one attempt (nodes × processes). Re-exported by ``jobs.models``."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class ComputeProfileQuerySet(models.QuerySet):
    def visible_to(self, team: models.Model) -> ComputeProfileQuerySet:
        """Profiles open to every team (no allowed teams), and those that allow this one (a Team)."""
        return self.filter(Q(allowed_teams__isnull=True) | Q(allowed_teams=team)).distinct()

    def default(self) -> ComputeProfile | None:
        """Where a job without a profile runs: the installation's default (HONE_DEFAULT_PROFILE)."""
        return self.filter(name=settings.HONE_DEFAULT_PROFILE).first()


class ComputeProfile(models.Model):
    """Where and with what resources attempts run. Operators manage these."""

    class Executor(models.TextChoices):
        LOCAL = "local"
        KUBERNETES = "kubernetes"

    objects = ComputeProfileQuerySet.as_manager()

    name = models.SlugField(max_length=60, unique=True)
    description = models.CharField(max_length=200, blank=True)
    executor = models.CharField(max_length=20, choices=Executor.choices, default=Executor.LOCAL)
    gpu_type = models.CharField(max_length=60, blank=True, help_text="e.g. nvidia-a100-80gb; empty for CPU.")
    gpu_count = models.PositiveSmallIntegerField(default=0)
    cpu = models.CharField(max_length=20, default="2", help_text="Kubernetes quantity, e.g. 4 or 3500m.")
    memory = models.CharField(max_length=20, default="8Gi", help_text="Kubernetes quantity, e.g. 16Gi.")
    node_selector = models.JSONField(default=dict, blank=True)
    tolerations = models.JSONField(default=list, blank=True)
    priority_class = models.CharField(max_length=100, blank=True)
    max_runtime_seconds = models.PositiveIntegerField(default=24 * 3600)
    # The shape of one attempt: nodes (pods) × processes per node. GPUs and memory above are per node.
    nodes = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="Machines (pods) one attempt trains on together; above 1 needs the kubernetes executor.",
    )
    processes_per_node = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(16)],
        help_text="Training processes per node; empty: one per GPU (one on CPU); on CPU, gloo processes.",
    )
    slots = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Local executor: trainers run at once; empty: HONE_LOCAL_SLOTS."
    )
    is_held = models.BooleanField(default=False, help_text="Held profiles start no new attempts.")
    allowed_teams = models.ManyToManyField("jobs.Team", blank=True, help_text="Empty: every team may use it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def per_node(self) -> int:
        """Processes on each node: as set, else one per GPU (one on CPU)."""
        return self.processes_per_node or max(self.gpu_count, 1)

    @property
    def world_size(self) -> int:
        return self.nodes * self.per_node

    @property
    def total_gpus(self) -> int:
        """GPUs one attempt holds: nodes × GPUs per node (what quotas and the console count)."""
        return self.nodes * self.gpu_count

    @property
    def shape_text(self) -> str:
        from trainers.distributed import count

        nodes = f"{self.nodes} node{'s' if self.nodes != 1 else ''}"
        return f"{nodes} × {count(self.per_node, self.gpu_count > 0)}"
