"""Jobs: how they read, and what creating one takes.

Parameters are validated by the method's own pydantic models from the trainer's catalogue
(the same ones the job form and the trainer use), and their errors come back per field:
``params.training.learning_rate``.
"""

from __future__ import annotations

import functools
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from api.serializers import chain_jobs, objectives
from api.serializers.common import LinkField, RefSerializer, UsernameField
from jobs import gates
from jobs.launch import LaunchRefused, launch, training
from jobs.launch.errors import api_errors, train_api_field
from jobs.lifecycle import queue
from jobs.models import Attempt, ComputeProfile, Dataset, Job, ModelAsset, Team
from trainers import catalogue


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = [
            "number",
            "status",
            "exit_code",
            "reason",
            "resumed_from",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer):
    url = LinkField("api:job-detail")
    base_model = RefSerializer(read_only=True, allow_null=True)
    dataset = RefSerializer(read_only=True, allow_null=True)
    compute_profile = RefSerializer(
        source="profile",
        read_only=True,
        allow_null=True,
        help_text="Where it runs; null: the installation's default profile.",
    )
    created_by = UsernameField()
    progress = serializers.FloatField(read_only=True, help_text="From 0 to 1.")
    objective = serializers.CharField(
        read_only=True, help_text="Training jobs: what the model learns (sft, dpo, …); empty for other kinds."
    )
    params = serializers.DictField(
        read_only=True,
        help_text="The method's parameters, as validated. Training jobs also repeat a non-sft objective "
        "here as `objective` (deprecated: read the job's `objective`).",
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "name",
            "kind",
            "method",
            "objective",
            "status",
            "base_model",
            "dataset",
            "compute_profile",
            "params",
            "step",
            "total_steps",
            "progress",
            "eta_seconds",
            "error",
            "attempt_count",
            "max_attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, job: Job) -> dict:
        return summary(
            {
                **{column: getattr(job, column) for column in SUMMARY_COLUMNS if "__" not in column},
                "base_model__name": job.base_model.name if job.base_model_id else None,
                "dataset__name": job.dataset.name if job.dataset_id else None,
                "profile__name": job.profile.name if job.profile_id else None,
                "created_by__username": job.created_by.username if job.created_by_id else None,
            }
        )


# What a job summary is built from. The list reads exactly these columns (``values()``), no
# model instances: on the busiest endpoint, building models and running DRF's field by field
# machinery cost far more than the query (tests/api/test_jobs.py checks both paths agree).
SUMMARY_COLUMNS = (
    "id", "name", "kind", "method", "objective", "status", "base_model_id", "base_model__name", "dataset_id",
    "dataset__name", "profile_id", "params", "step", "total_steps", "eta_seconds",
    "error", "attempt_count", "max_attempts", "created_by__username", "created_at", "started_at",
    "finished_at", "updated_at",
)  # fmt: skip


def named_profiles(rows: list[dict]) -> list[dict]:
    """Rows of SUMMARY_COLUMNS with ``profile__name`` added: one small query, and only when a row
    has a compute profile (joining the profiles in the list query cost more planning time,
    ~1.2 ms a request, than this does)."""
    ids = {row["profile_id"] for row in rows if row["profile_id"] is not None}
    names = dict(ComputeProfile.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
    for row in rows:
        row["profile__name"] = names.get(row["profile_id"])
    return rows


def summary(row: dict) -> dict:
    """A job as JobSerializer declares it, from a row of SUMMARY_COLUMNS (and its profile's name)."""
    status, step, total = row["status"], row["step"], row["total_steps"]
    return {
        "id": row["id"],
        "url": f"{_jobs_path()}/{row['id']}",
        "name": row["name"],
        "kind": row["kind"],
        "method": row["method"],
        "objective": row["objective"],
        "status": status,
        "base_model": _ref(row["base_model_id"], row["base_model__name"]),
        "dataset": _ref(row["dataset_id"], row["dataset__name"]),
        "compute_profile": _ref(row["profile_id"], row["profile__name"]),
        "params": _params(row),
        "step": step,
        "total_steps": total,
        "progress": Job.progress_of(status, step, total),
        "eta_seconds": row["eta_seconds"],
        "error": row["error"],
        "attempt_count": row["attempt_count"],
        "max_attempts": row["max_attempts"],
        "created_by": row["created_by__username"],
        "created_at": _time(row["created_at"]),
        "started_at": _time(row["started_at"]),
        "finished_at": _time(row["finished_at"]),
        "updated_at": _time(row["updated_at"]),
    }


def _params(row: dict) -> dict:
    """A job's params; a training job's non-sft objective repeated in them, as clients read it before
    it had a field of its own (deprecated)."""
    if row["objective"] in ("", "sft"):
        return row["params"]
    return {**row["params"], "objective": row["objective"]}


@functools.cache
def _jobs_path() -> str:
    return reverse("api:job-list")


def _ref(pk: int | None, name: str | None) -> dict | None:
    return {"id": pk, "name": name} if pk is not None else None


def _time(value: datetime | None) -> str | None:
    """As DRF writes times: ISO 8601 in the current time zone, UTC as 'Z'."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class QueuePlaceSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="Its place in the queue; 1 starts next.")
    of = serializers.IntegerField(help_text="How many jobs are queued in all.")
    reason = serializers.CharField(help_text="Why it waits, e.g. 'waiting: team quota 4/4 GPUs in use'.")


class JobDetailSerializer(JobSerializer):
    attempts = AttemptSerializer(many=True, read_only=True)
    queue = QueuePlaceSerializer(read_only=True, allow_null=True, help_text="While queued; null otherwise.")
    gate = serializers.DictField(
        read_only=True, allow_null=True,
        help_text="A training or merge job's promotion gate: spec, status (pending, passed, failed), "
        "promoted, measured_model, rules; null without one. GET /api/v1/jobs/{id}/evaluation has the same.",
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "attempts", "queue", "gate"]
        read_only_fields = fields

    def to_representation(self, job: Job) -> dict:
        attempts = job.attempts.values(*ATTEMPT_COLUMNS)
        return super().to_representation(job) | {
            "attempts": [attempt_summary(a) for a in attempts],
            "queue": queue_place(job.pk, job.status),
            "gate": gates.status_of(job.kind, job.params, job.gate_result),
        }


def queue_place(job_id: int, status: str) -> dict | None:
    """A queued job's place and why it waits (jobs/lifecycle/queue.py), as QueuePlaceSerializer says."""
    place = queue.queue_positions().get(job_id) if status == Job.Status.QUEUED else None
    if place is None:
        return None
    return {"position": place.position, "of": place.total, "reason": place.reason or queue.STARTING_SOON}


ATTEMPT_COLUMNS = tuple(AttemptSerializer.Meta.fields)


def attempt_summary(row: dict) -> dict:
    """An attempt as AttemptSerializer declares it, from a row of ATTEMPT_COLUMNS."""
    times = ("created_at", "started_at", "finished_at")
    return {column: _time(row[column]) if column in times else row[column] for column in ATTEMPT_COLUMNS}


DETAIL_COLUMNS = (*SUMMARY_COLUMNS, "gate_result")


def detail(row: dict, attempts: list[dict]) -> dict:
    """A job as JobDetailSerializer declares it, from rows of DETAIL_COLUMNS (the detail endpoint reads
    no models)."""
    return summary(row) | {
        "attempts": [attempt_summary(a) for a in attempts],
        "queue": queue_place(row["id"], row["status"]),
        "gate": gates.status_of(row["kind"], row["params"], row["gate_result"]),
    }


# Training methods, the choices of a training job's and a sweep's ``method`` (one enum in the schema).
TRAIN_METHODS = [m.name for m in catalogue.methods("train")]


class JobCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Defaults to '<model> on <dataset>'."
    )
    kind = serializers.ChoiceField(
        choices=[Job.Kind.TRAIN],
        default=Job.Kind.TRAIN,
        help_text="merge, quantize and evaluate have bodies of their own.",
    )
    method = serializers.ChoiceField(
        choices=TRAIN_METHODS,
        default="lora",
        help_text="A method from GET /api/v1/methods.",
    )
    objective = objectives.objective_field()
    base_model = serializers.IntegerField(min_value=1, help_text="A model id from GET /api/v1/models.")
    dataset = serializers.IntegerField(min_value=1, help_text="A dataset id from GET /api/v1/datasets.")
    validation = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="A dataset to evaluate on instead of a held-out share of the training rows; a golden one "
        "for a task-metric gate.",
    )
    params = serializers.DictField(
        required=False,
        help_text='Parameter groups of the method, e.g. {"lora": {"r": 8}, "training": {"epochs": 1}}; '
        "omitted fields take their defaults. JSON schema: GET /api/v1/methods/{name}. `gate` is a promotion "
        'gate: {"metric": "eval/accuracy", "min_gain": 2, "max_retention_drop": 1} (points over the base '
        "on the golden validation set; % rise in general-text perplexity).",
    )

    @property
    def team(self) -> Team:
        return self.context["team"]

    compute_profile = chain_jobs.profile_field()

    def validate_compute_profile(self, value: int | None) -> ComputeProfile | None:
        return chain_jobs.check_profile(self.team, value)

    def validate_base_model(self, value: int) -> ModelAsset:
        return chain_jobs.model_of(self.team, value)

    def validate_dataset(self, value: int) -> Dataset:
        return chain_jobs.dataset_of(self.team, value)

    def validate_validation(self, value: int) -> Dataset:
        return chain_jobs.dataset_of(self.team, value)

    def validate_params(self, value: dict) -> dict:
        """Its shape only: an object of groups, each an object (the launch path checks their fields)."""
        errors = {
            group: ["must be an object"] for group, given in value.items() if not isinstance(given, dict)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def launch(self, user) -> Job:
        """The job through the launch path, which checks the rest (``jobs.launch.rules``); a refusal
        is a 400 naming each field (``params.training.learning_rate``)."""
        data = self.validated_data
        request = training(
            team=self.team,
            user=user,
            name=data.get("name") or "",
            base_model=data["base_model"],
            dataset=data["dataset"],
            params=data.get("params") or {},
            method=data["method"],
            objective=data["objective"],
            profile=data.get("compute_profile"),
            validation=data.get("validation"),
        )
        try:
            return launch(request)
        except LaunchRefused as exc:
            raise serializers.ValidationError(api_errors(exc, train_api_field)) from None


class JobCloneSerializer(serializers.Serializer):
    """What to change in the copy; anything left out is taken from the original job."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    base_model = serializers.IntegerField(min_value=1, required=False)
    dataset = serializers.IntegerField(min_value=1, required=False)
    params = serializers.DictField(
        required=False, help_text="Merged into the original's parameters, group by group."
    )
    compute_profile = chain_jobs.profile_field()

    def merged_with(self, job: Job) -> dict:
        """The create request this clone amounts to."""
        changes = self.validated_data
        params = {group: dict(values) for group, values in job.params.items()}
        for group, values in (changes.get("params") or {}).items():
            params[group] = {**params.get(group, {}), **values} if isinstance(values, dict) else values
        return {
            "name": changes.get("name") or f"{job.name} (copy)"[:200],
            "kind": job.kind,
            "method": job.method,
            "objective": job.objective or "sft",
            "base_model": changes.get("base_model", job.base_model_id),
            "dataset": changes.get("dataset", job.dataset_id),
            "compute_profile": changes.get("compute_profile", job.profile_id),
            "params": params,
        }
