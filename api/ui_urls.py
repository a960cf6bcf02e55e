"""Settings pages: API tokens and webhooks (mounted at /settings/)."""

from django.urls import path

from api import ui

app_name = "api_ui"

urlpatterns = [
    path("tokens/", ui.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", ui.token_revoke, name="token_revoke"),
    path("webhooks/", ui.webhook_list, name="webhook_list"),
    path("webhooks/<int:pk>/", ui.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/delete/", ui.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:pk>/rotate/", ui.webhook_rotate, name="webhook_rotate"),
]
