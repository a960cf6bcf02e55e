from django.contrib import admin

from jobs.models import (
    Artifact,
    Attempt,
    ComputeProfile,
    Dataset,
    Event,
    Job,
    Membership,
    MetricPoint,
    ModelAsset,
    Team,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "format", "task", "row_count", "bytes", "created_at"]
    list_filter = ["format", "task", "team"]
    search_fields = ["name", "filename", "sha256"]
    # The file is content-addressed: editing these would break the link to it.
    readonly_fields = ["location", "sha256", "bytes", "format", "task", "row_count", "report", "created_by"]


@admin.register(ModelAsset)
class ModelAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "source", "task", "parameter_count"]
    list_filter = ["source", "task"]
    search_fields = ["name", "path", "hub_id"]


@admin.register(ComputeProfile)
class ComputeProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "executor", "gpu_type", "gpu_count", "cpu", "memory", "slots", "is_held"]
    list_filter = ["executor", "is_held"]
    search_fields = ["name", "description", "gpu_type"]
    filter_horizontal = ["allowed_teams"]


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "status",
        "executor",
        "external_id",
        "exit_code",
        "reason",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "team", "kind", "status", "step", "total_steps", "created_at"]
    list_filter = ["status", "kind", "team"]
    search_fields = ["name", "id"]
    # Status moves only through the lifecycle services (conditional updates).
    readonly_fields = [
        "status",
        "spec",
        "step",
        "total_steps",
        "eta_seconds",
        "attempt_count",
        "started_at",
        "finished_at",
        "error",
    ]
    inlines = [AttemptInline]


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ["job", "number", "status", "executor", "exit_code", "created_at"]
    list_filter = ["status", "executor"]
    readonly_fields = [f.name for f in Attempt._meta.fields]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["attempt", "seq", "kind", "time"]
    list_filter = ["kind"]
    readonly_fields = ["attempt", "seq", "kind", "time", "payload"]


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ["job", "name", "step", "value"]
    list_filter = ["name"]
    readonly_fields = ["job", "attempt", "name", "step", "value"]


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["job", "name", "kind", "bytes", "created_at"]
    list_filter = ["kind"]
    readonly_fields = ["job", "attempt", "name", "kind", "location", "bytes", "sha256"]
