"""A compute profile's shape: nodes × processes per node (existing profiles: one node, one process per GPU)."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0009_openai_validation_role")]

    operations = [
        migrations.AddField(
            model_name="computeprofile",
            name="nodes",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="Machines (pods) one attempt trains on together; above 1 needs the kubernetes executor.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(64),
                ],
            ),
        ),
        migrations.AddField(
            model_name="computeprofile",
            name="processes_per_node",
            field=models.PositiveSmallIntegerField(
                blank=True,
                null=True,
                help_text="Training processes per node; empty: one per GPU (one on CPU); on CPU, gloo processes.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(16),
                ],
            ),
        ),
    ]
