from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Hone jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs import tasks
        from jobs.lifecycle.transitions import job_changed

        job_changed.connect(tasks.on_job_changed, dispatch_uid="jobs.tasks.on_job_changed")
