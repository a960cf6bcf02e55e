"""A training job's objective gets its own column; it used to be folded into params."""

from django.db import migrations, models


def objective_to_column(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.filter(kind="train").only("pk", "params").iterator():
        params = dict(job.params or {})
        objective = params.pop("objective", "sft")
        Job.objects.filter(pk=job.pk).update(objective=objective, params=params)


def objective_to_params(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.filter(kind="train").exclude(objective__in=("", "sft")).iterator():
        Job.objects.filter(pk=job.pk).update(params={**job.params, "objective": job.objective})


class Migration(migrations.Migration):
    dependencies = [("jobs", "0007_artifact_kinds")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="objective",
            field=models.CharField(
                blank=True,
                help_text="Training jobs: what the model learns (sft, dpo, …); else empty.",
                max_length=30,
            ),
        ),
        migrations.RunPython(objective_to_column, objective_to_params),
    ]
