"""Hone's records. PostgreSQL is the source of truth; every object belongs to a team."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from jobs.compute import ComputeProfile  # re-exported: the records are imported from here
from jobs.team_presets import TeamPreset  # noqa: F401 (re-exported, likewise)


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Quotas, enforced when jobs are dispatched (jobs/lifecycle/queue.py). Empty: no limit.
    max_gpus = models.PositiveIntegerField(
        null=True, blank=True, help_text="GPUs its attempts may hold at once."
    )
    gpu_hours_per_month = models.PositiveIntegerField(
        null=True, blank=True, help_text="GPU-hours per calendar month (attempt durations × GPUs)."
    )
    max_storage_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Datasets and job outputs; at or over it, its jobs wait."
    )
    max_runtime_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Longest one attempt may run (caps the compute profile's limit)."
    )
    # The forgetting report (trainers/forgetting.py) warns past this rise in general-text perplexity.
    retention_warn_percent = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1000.0)],
        help_text="Warn when training raises general-text perplexity by more than this many percent.",
    )

    class RetentionTask(models.TextChoices):
        NONE = "", "none"
        BUILTIN = "builtin", "Hone's built-in general-knowledge questions"
        DATASET = "dataset", "a multiple-choice dataset of the team"

    # A multiple-choice task the forgetting report also measures before and after training.
    retention_task = models.CharField(max_length=10, blank=True, default="", choices=RetentionTask.choices)
    retention_dataset = models.ForeignKey(
        "Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The multiple-choice dataset of retention_task 'dataset'.",
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"
        VIEWER = "viewer"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    @property
    def can_launch(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.MEMBER)


class Dataset(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    filename = models.CharField(max_length=255, help_text="The name of the file as uploaded.")
    location = models.CharField(max_length=500, help_text="Content-addressed path under storage.")
    sha256 = models.CharField(max_length=64)
    bytes = models.BigIntegerField()
    format = models.CharField(max_length=10)
    task = models.CharField(max_length=20)
    row_count = models.IntegerField()
    report = models.JSONField(default=dict, help_text="The validation report.")
    golden = models.BooleanField(
        default=False, help_text="A trusted evaluation set: promotion gates measure task metrics on it."
    )
    produced_by = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.PROTECT, related_name="datasets_made",
        help_text="The curate job that made it; its inputs and params are the lineage.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ModelAssetQuerySet(models.QuerySet):
    def visible_to(self, team: Team) -> ModelAssetQuerySet:
        """Built-in models and the team's own: what the team may see and use."""
        return self.filter(Q(team__isnull=True) | Q(team=team))

    def usable_as_base(self, objective: str = "") -> ModelAssetQuerySet:
        """Models a training job can start from: full-precision transformers models, text-generation
        ones unless the objective is classification (which also trains encoders)."""
        found = self.filter(format=ModelAsset.Format.TRANSFORMERS, quantization="")
        return found if objective == "classification" else found.filter(task=ModelAsset.Task.CAUSAL_LM)


class ModelAsset(models.Model):
    """A model users can start from. Built-in models (team is null) are shared by every team."""

    objects = ModelAssetQuerySet.as_manager()

    class Source(models.TextChoices):
        BUILTIN = "builtin", "built-in"
        LOCAL = "local", "local path"
        HUB = "hub", "hub id"
        JOB = "job", "job output"

    class Task(models.TextChoices):
        CAUSAL_LM = "causal-lm", "text generation"
        CLASSIFICATION = "sequence-classification", "classification"

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices)
    path = models.CharField(max_length=500, blank=True)
    hub_id = models.CharField(max_length=200, blank=True)

    class Format(models.TextChoices):
        TRANSFORMERS = "transformers", "transformers model"
        ADAPTER = "adapter", "LoRA adapter"
        GGUF = "gguf", "GGUF file"

    task = models.CharField(max_length=30, choices=Task.choices)
    format = models.CharField(max_length=20, choices=Format.choices, default=Format.TRANSFORMERS)
    adapter_base = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="adapters",
        help_text="For an adapter: the model it adapts.",
    )
    quantization = models.CharField(
        max_length=30, blank=True, help_text="e.g. gptq-int4; empty if not quantized."
    )
    architecture = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(null=True, blank=True)
    description = models.TextField(blank=True)
    produced_by = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="builtin") | Q(team__isnull=False), name="only_builtin_models_are_shared"
            ),
            models.CheckConstraint(condition=~Q(path="") | ~Q(hub_id=""), name="model_has_path_or_hub_id"),
        ]

    def __str__(self) -> str:
        return self.name

    def base_problem(self, objective: str = "") -> str | None:
        """Why a training job cannot start from this model (None if it can), and what to pick instead."""
        if self.format == self.Format.ADAPTER:
            base = f" ({self.adapter_base.name}, id {self.adapter_base_id})" if self.adapter_base_id else ""
            return (
                f"{self.name} is a LoRA adapter, not a model to start from; pick its base model{base}, "
                "or continue the job that trained it"
            )
        if self.format == self.Format.GGUF:
            return f"{self.name} is a GGUF file for llama.cpp-family runtimes; pick a transformers model"
        if self.quantization:
            return f"{self.name} is quantized ({self.quantization}); train from its full-precision original"
        if self.task != self.Task.CAUSAL_LM and objective != "classification":
            return (
                f"{self.name} is a {self.get_task_display()} model; pick a text-generation one, "
                "or the classification objective"
            )
        return None


class Job(models.Model):
    class Kind(models.TextChoices):
        TRAIN = "train"
        MERGE = "merge"
        QUANTIZE = "quantize"
        EVALUATE = "evaluate"
        CURATE = "curate"
        SWEEP = "sweep"

    class Status(models.TextChoices):
        QUEUED = "queued"
        STARTING = "starting"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.STARTING, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TRAIN)
    method = models.CharField(max_length=30, default="lora")
    objective = models.CharField(
        max_length=30, blank=True, help_text="Training jobs: what the model learns (sft, dpo, …); else empty."
    )
    # The primary inputs, for lists and filters; every input (with its role) is a JobInput.
    base_model = models.ForeignKey(
        ModelAsset, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs")
    profile = models.ForeignKey(
        ComputeProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    params = models.JSONField(default=dict, help_text="Method and training parameters as validated.")
    gate_result = models.JSONField(
        null=True, blank=True, help_text="A training job's promotion gate as evaluated on success."
    )
    # A sweep's trials are ordinary jobs with their sweep as parent (jobs/sweeps/); one job per trial.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="trials"
    )
    trial_number = models.PositiveIntegerField(null=True, blank=True, help_text="A sweep's trial number.")
    spec = models.JSONField(default=dict, blank=True, help_text="The spec of the latest attempt.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher starts first; operators set it.")
    queue_reason = models.CharField(
        max_length=200, blank=True, help_text="Why a queued job is still waiting."
    )
    step = models.IntegerField(default=0)
    total_steps = models.IntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["parent", "trial_number"], name="one_job_per_trial"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    @property
    def progress(self) -> float:
        return self.progress_of(self.status, self.step, self.total_steps)

    @staticmethod
    def progress_of(status: str, step: int, total_steps: int) -> float:
        """From 0 to 1: done is done; otherwise steps so far, capped at 1 (the page and the API)."""
        if status == Job.Status.SUCCEEDED:
            return 1.0
        return min(step / total_steps, 1.0) if total_steps else 0.0

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class Attempt(models.Model):
    class Status(models.TextChoices):
        STARTING = "starting"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        PREEMPTED = "preempted"
        CANCELLED = "cancelled"

    LIVE = (Status.STARTING, Status.RUNNING)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STARTING, db_index=True)
    executor = models.CharField(max_length=20)
    gpu_count = models.PositiveSmallIntegerField(
        default=0, help_text="GPUs it holds: usage is duration × GPUs."
    )
    external_id = models.CharField(max_length=200, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    token_hash = models.CharField(max_length=64, blank=True, help_text="sha256 of the events token.")
    events_offset = models.BigIntegerField(default=0, help_text="Bytes of the trainer's stdout ingested.")
    resumed_from = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="one_attempt_per_number"),
            # Never two live attempts for one job, whatever races happen above.
            models.UniqueConstraint(
                fields=["job"],
                condition=Q(status__in=["starting", "running"]),
                name="one_live_attempt_per_job",
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} attempt {self.number}"


class Event(models.Model):
    """Every event a trainer sent, once: (attempt, seq) makes ingest idempotent."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="events")
    seq = models.IntegerField()
    kind = models.CharField(max_length=20)
    time = models.DateTimeField()
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["attempt", "seq"]
        constraints = [models.UniqueConstraint(fields=["attempt", "seq"], name="one_event_per_seq")]
        indexes = [models.Index(fields=["attempt", "kind", "seq"])]


class MetricPoint(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="metrics")
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=100, help_text="split/name, e.g. train/loss, eval/loss.")
    step = models.IntegerField()
    value = models.FloatField()

    class Meta:
        ordering = ["job", "name", "step"]
        constraints = [models.UniqueConstraint(fields=["job", "name", "step"], name="one_point_per_step")]


class Artifact(models.Model):
    class Kind(models.TextChoices):
        ADAPTER = "adapter"
        MODEL = "model"
        CHECKPOINT = "checkpoint"
        GGUF = "gguf"
        REPORT = "report"
        DATASET = "dataset"  # a curate job's curated rows, registered as a Dataset on success

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts")
    attempt = models.ForeignKey(Attempt, null=True, on_delete=models.SET_NULL, related_name="artifacts")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    location = models.CharField(max_length=500, help_text="Path under storage.")
    bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="one_artifact_per_name")]


class JobInput(models.Model):
    """One input of a job: the lineage that the UI and API show (inputs → job → outputs)."""

    class Role(models.TextChoices):
        BASE = "base"
        MODEL = "model"
        DATASET = "dataset"
        CALIBRATION = "calibration"
        CANDIDATE = "candidate"
        VALIDATION = "validation"  # a training job's own evaluation rows (instead of a held-out share)
        EVAL = "eval"  # a curate job's evaluation set: rows found there are contamination
        HARNESS = "harness"  # an evaluate job's multiple-choice rows, run as lm-evaluation-harness tasks
        JUDGE = "judge"  # an evaluate job's judge model, grading the two models' answers
        JUDGE_LABELS = "judge_labels"  # preference pairs the judge's agreement is measured on
        REWARD_MODEL = "reward_model", "reward model"  # a training job's classifier scoring answers

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="inputs")
    role = models.CharField(max_length=20, choices=Role.choices)
    position = models.PositiveSmallIntegerField(default=0)
    model = models.ForeignKey(
        ModelAsset, null=True, blank=True, on_delete=models.PROTECT, related_name="used_by"
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="used_by"
    )
    weight = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["job", "role", "position"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(model__isnull=False) & Q(dataset__isnull=True))
                | (Q(model__isnull=True) & Q(dataset__isnull=False)),
                name="input_is_a_model_or_a_dataset",
            )
        ]


class JobTransition(models.Model):
    """Every status a job entered, written in the same transaction as the change (an outbox:
    webhooks and audit read from here, so no transition is announced that did not happen)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="transitions")
    status = models.CharField(max_length=10, choices=Job.Status.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["job", "at", "pk"]
