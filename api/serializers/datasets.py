from __future__ import annotations

from rest_framework import serializers

from api.serializers.common import LinkField, UsernameField
from jobs.models import Dataset


class DatasetSerializer(serializers.ModelSerializer):
    url = LinkField("api:dataset-detail")
    created_by = UsernameField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "url",
            "name",
            "filename",
            "format",
            "task",
            "row_count",
            "bytes",
            "sha256",
            "golden",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class DatasetDetailSerializer(DatasetSerializer):
    report = serializers.DictField(
        read_only=True,
        help_text="The validation report: detected format and task, statistics, a preview of rows.",
    )

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "report"]
        read_only_fields = fields


class DatasetChangeSerializer(serializers.Serializer):
    golden = serializers.BooleanField(
        help_text="Mark it as one of the team's golden evaluation sets, which promotion gates measure on."
    )


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="JSONL, JSON, CSV or Parquet. Every row is checked before anything is stored.",
    )
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Defaults to the file's name."
    )
