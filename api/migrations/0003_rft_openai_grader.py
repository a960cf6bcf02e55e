from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("api", "0002_openai_fine_tune")]

    operations = [
        migrations.AddField(
            model_name="openaifinetune",
            name="grader",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
