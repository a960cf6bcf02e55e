"""Writing the audit log: operator actions (``console.operations``), changes to a team's members
(``jobs.teams.membership``), and every change made in the Django admin.

The admin writes a ``LogEntry`` for each addition, change and deletion; a receiver copies each
into the audit log. Deleting several objects at once (the "delete selected" action) creates its
LogEntries in bulk, which sends no signal, so that action is wrapped to record each object.
Custom admin actions call ``console.operations``, which records them.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models import Model
from django.db.models.signals import post_save

from console.models import AuditLog

ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}
_recording_bulk: ContextVar[bool] = ContextVar("recording_bulk", default=False)


def record(
    who,
    action: str,
    target: Model | str = "",
    *,
    target_type: str = "",
    target_id: str | int = "",
    details: dict | None = None,
) -> AuditLog:
    """One audit entry; ``target`` a model instance (its type and id are taken from it) or words."""
    if isinstance(target, Model):
        target_type = target_type or str(target._meta.verbose_name)
        target_id = target_id or target.pk
    user = who if who is not None and who.is_authenticated else None
    return AuditLog.objects.create(
        who=user,
        who_name=user.get_username() if user else "system",
        action=action,
        target_type=target_type[:60],
        target_id=str(target_id)[:64],
        target=str(target)[:200],
        details=details or {},
    )


def _on_log_entry(sender, instance: LogEntry, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw and not _recording_bulk.get():
        record(
            instance.user,
            ADMIN_ACTIONS.get(instance.action_flag, "admin.change"),
            instance.object_repr,
            target_type=str(instance.content_type.name) if instance.content_type else "",
            target_id=instance.object_id or "",
            details={"change": instance.get_change_message()} if instance.action_flag == CHANGE else {},
        )


def audited_delete_selected(modeladmin, request, queryset):
    """Django's "delete selected" action, recording each deleted object in the audit log."""
    confirmed = bool(request.POST.get("post"))
    doomed = [(obj.pk, str(obj)) for obj in queryset] if confirmed else []
    token = _recording_bulk.set(True)
    try:
        response = delete_selected(modeladmin, request, queryset)
    finally:
        _recording_bulk.reset(token)
    if confirmed and response is None:  # deleted; a response is the confirmation page or a refusal
        kind = str(modeladmin.model._meta.verbose_name)
        for pk, text in doomed:
            record(request.user, "admin.delete", text, target_type=kind, target_id=pk)
    return response


audited_delete_selected.allowed_permissions = delete_selected.allowed_permissions
audited_delete_selected.short_description = delete_selected.short_description


def connect_admin() -> None:
    post_save.connect(_on_log_entry, sender=LogEntry, dispatch_uid="console.audit.admin_log_entry")
    admin.site.add_action(audited_delete_selected, "delete_selected")
