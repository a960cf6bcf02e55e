from django.contrib import admin

from console import operations
from jobs.models import (
    Artifact,
    Attempt,
    ComputeProfile,
    Dataset,
    Event,
    Job,
    JobInput,
    JobTransition,
    Membership,
    MetricPoint,
    ModelAsset,
    Team,
    TeamPreset,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the lifecycle itself: editing them would break what they record."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = [
        "name", "slug", "max_gpus", "gpu_hours_per_month", "max_storage_bytes", "max_runtime_seconds"
    ]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug"]}),
        (
            "Quotas (enforced when jobs start; empty: no limit)",
            {"fields": ["max_gpus", "gpu_hours_per_month", "max_storage_bytes", "max_runtime_seconds"]},
        ),
    ]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "user__email", "team__name"]
    autocomplete_fields = ["user", "team"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "format", "task", "row_count", "bytes", "created_at"]
    list_filter = ["format", "task", "team"]
    search_fields = ["name", "filename", "sha256"]
    # The file is content-addressed: editing these would break the link to it.
    readonly_fields = ["location", "sha256", "bytes", "format", "task", "row_count", "report", "created_by"]


@admin.register(TeamPreset)
class TeamPresetAdmin(admin.ModelAdmin):
    """A team's saved settings (a sweep's best trial): operators can rename or remove one."""

    list_display = ["name", "team", "method", "objective", "metric", "value", "created_at"]
    list_filter = ["team", "method"]
    search_fields = ["name", "team__name"]
    readonly_fields = ["source_job", "metric", "value", "created_by"]


@admin.register(ModelAsset)
class ModelAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "source", "task", "parameter_count"]
    list_filter = ["source", "task"]
    search_fields = ["name", "path", "hub_id"]


@admin.register(ComputeProfile)
class ComputeProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "executor", "gpu_type", "gpu_count", "nodes", "cpu", "memory", "slots", "is_held"]
    list_filter = ["executor", "is_held"]
    search_fields = ["name", "description", "gpu_type"]
    filter_horizontal = ["allowed_teams"]
    actions = ["hold", "resume"]

    @admin.action(description="Hold the selected profiles (start nothing new)")
    def hold(self, request, queryset) -> None:
        held = [p.name for p in queryset if operations.hold_profile(p, by=request.user)]
        self.message_user(request, f"On hold: {', '.join(held) or 'none (they were held already)'}.")

    @admin.action(description="Resume the selected profiles")
    def resume(self, request, queryset) -> None:
        resumed = [p.name for p in queryset if operations.resume_profile(p, by=request.user)]
        self.message_user(request, f"Resumed: {', '.join(resumed) or 'none (none was held)'}.")


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
    list_display = [
        "id", "name", "team", "kind", "status", "priority", "profile", "queue_reason", "created_at"
    ]
    list_filter = ["status", "kind", "profile", "team"]
    search_fields = ["name", "id"]
    actions = ["cancel"]
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
        "queue_reason",
        "created_by",
    ]
    inlines = [AttemptInline]

    def save_model(self, request, obj, form, change) -> None:
        if change:  # only what was edited: a full save would write back a status that has moved on
            obj.save(update_fields=form.changed_data)
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset) -> None:
        cancelled = 0
        for job in queryset.select_related("team"):
            try:
                operations.cancel_job(job, by=request.user)
                cancelled += 1
            except operations.OperationRefused:
                pass  # it had ended already
        self.message_user(request, f"{cancelled} job(s) cancelled.")


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ["job", "number", "status", "executor", "gpu_count", "exit_code", "created_at"]
    list_filter = ["status", "executor"]
    search_fields = ["job__name", "=job__id", "external_id"]
    readonly_fields = [f.name for f in Attempt._meta.fields]


@admin.register(JobTransition)
class JobTransitionAdmin(ReadOnlyAdmin):
    list_display = ["job", "status", "at"]
    list_filter = ["status"]
    search_fields = ["=job__id", "job__name"]
    date_hierarchy = "at"


@admin.register(JobInput)
class JobInputAdmin(ReadOnlyAdmin):
    list_display = ["job", "role", "position", "model", "dataset", "weight"]
    list_filter = ["role"]
    search_fields = ["=job__id", "job__name", "model__name", "dataset__name"]


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
