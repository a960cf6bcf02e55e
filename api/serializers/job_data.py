"""What a job produced: metric series, log lines, sample generations, artifacts."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from jobs.models import Artifact


class PointSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True, help_text="null when not finite (NaN or infinite).")


class SeriesSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="split/name, e.g. train/loss or eval/loss.")
    points = PointSerializer(many=True)
    count = serializers.IntegerField(help_text="Points after `since`, before downsampling.")
    last_step = serializers.IntegerField(
        allow_null=True, help_text="The newest step: pass it as `since` to get only newer points next time."
    )
    downsampled = serializers.BooleanField()


class MetricsSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    names = serializers.ListField(child=serializers.CharField(), help_text="Every series the job has.")
    series = SeriesSerializer(many=True)


class LogLineSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    level = serializers.CharField()
    message = serializers.CharField(allow_blank=True)


class LogsSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    lines = LogLineSerializer(many=True, help_text="Oldest first.")


class SampleSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    step = serializers.IntegerField(allow_null=True)
    prompt = serializers.CharField(allow_blank=True)
    output = serializers.CharField(allow_blank=True)
    expected = serializers.CharField(allow_null=True, allow_blank=True)


class SamplesSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    samples = SampleSerializer(many=True, help_text="The generations of the latest step that made any.")


class ArtifactSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(
        help_text="GET it for the file, or a zip of a directory; Range requests are supported."
    )
    attempt = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)

    class Meta:
        model = Artifact
        fields = ["id", "url", "download_url", "name", "kind", "bytes", "sha256", "attempt", "created_at"]
        read_only_fields = fields

    def get_url(self, artifact: Artifact) -> str:
        return reverse("api:artifact-detail", args=[artifact.job_id, artifact.pk])

    def get_download_url(self, artifact: Artifact) -> str:
        return reverse("api:artifact-download", args=[artifact.job_id, artifact.pk])
