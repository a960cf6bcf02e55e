from django.contrib import admin

from api.models import ApiToken, IdempotencyKey, WebhookDelivery, WebhookEndpoint


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "hint", "user", "team", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["team"]
    search_fields = ["name", "hint", "user__username"]
    # Tokens are made on the API tokens page (shown once); here they can only be looked at or revoked.
    readonly_fields = ["user", "team", "name", "token_hash", "hint", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "team", "is_active", "created_by", "created_at"]
    list_filter = ["is_active", "team"]
    readonly_fields = ["secret_salt", "created_by"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "endpoint",
        "transition",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "team", "principal", "method", "path", "response_status", "created_at"]
    readonly_fields = [f.name for f in IdempotencyKey._meta.fields]
