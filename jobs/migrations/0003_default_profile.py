from django.db import migrations


def create_local_profile(apps, schema_editor):
    ComputeProfile = apps.get_model("jobs", "ComputeProfile")
    ComputeProfile.objects.get_or_create(
        name="local",
        defaults={"description": "Trainer subprocesses on the Hone server itself.", "executor": "local"},
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_compute_profiles")]
    operations = [migrations.RunPython(create_local_profile, migrations.RunPython.noop)]
