from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API: tokens, webhooks, idempotency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from api import schema, tasks, throttling  # noqa: F401 (schema registers the OpenAPI extensions)
        from jobs.lifecycle.transitions import job_changed

        throttling.check_rate_setting()
        job_changed.connect(tasks.on_job_changed, dispatch_uid="api.tasks.on_job_changed")
