from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operator console: audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import audit

        audit.connect_admin()
