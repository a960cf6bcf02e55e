"""Curate jobs: the kind, an evaluation-set input role, a dataset artifact, and the job a dataset came from."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0010_dist_profile_shape"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[
                    ("train", "Train"),
                    ("merge", "Merge"),
                    ("quantize", "Quantize"),
                    ("evaluate", "Evaluate"),
                    ("curate", "Curate"),
                ],
                default="train",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="jobinput",
            name="role",
            field=models.CharField(
                choices=[
                    ("base", "Base"),
                    ("model", "Model"),
                    ("dataset", "Dataset"),
                    ("calibration", "Calibration"),
                    ("candidate", "Candidate"),
                    ("validation", "Validation"),
                    ("eval", "Eval"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="artifact",
            name="kind",
            field=models.CharField(
                choices=[
                    ("adapter", "Adapter"),
                    ("model", "Model"),
                    ("checkpoint", "Checkpoint"),
                    ("gguf", "Gguf"),
                    ("report", "Report"),
                    ("dataset", "Dataset"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="dataset",
            name="produced_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The curate job that made it; its inputs and params are the lineage.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="datasets_made",
                to="jobs.job",
            ),
        ),
    ]
