from django.contrib import admin

from console.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: an audit log that can be edited proves nothing."""

    list_display = ["at", "who_name", "action", "target_type", "target"]
    list_filter = ["action", "target_type"]
    search_fields = ["who_name", "action", "target", "target_id"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
