from __future__ import annotations

from rest_framework import serializers

from api.models import WebhookDelivery, WebhookEndpoint
from api.serializers.common import LinkField, UsernameField


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=500, help_text="Where to POST; must resolve to a public address.")
    link = LinkField("api:webhook-detail")
    created_by = UsernameField()

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "link", "url", "description", "is_active", "created_by", "created_at"]
        read_only_fields = ["id", "link", "is_active", "created_by", "created_at"]


class WebhookCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret; owners can see it again on the Webhooks page."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="transition.job_id", read_only=True)
    job_status = serializers.CharField(source="transition.status", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "job",
            "job_status",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields
