"""Webhook endpoints of the team (owners change them) and their delivery log."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import ssrf, webhooks
from api.auth import OwnerOrReadOnly, TeamMember
from api.base import ApiView
from api.idempotency import idempotent
from api.models import WebhookDelivery, WebhookEndpoint
from api.serializers.webhooks import DeliverySerializer, WebhookCreatedSerializer, WebhookEndpointSerializer
from api.views.params import IDEMPOTENCY_KEY, created


class WebhookScoped(ApiView):
    serializer_class = WebhookEndpointSerializer
    permission_classes = [TeamMember, OwnerOrReadOnly]

    def endpoints(self):
        return WebhookEndpoint.objects.filter(team=self.team).select_related("created_by")

    def endpoint(self, webhook_id: int) -> WebhookEndpoint:
        return self.get_for_team(self.endpoints(), webhook_id, "webhook")


class WebhookList(WebhookScoped):
    pagination_class = None
    extra_problems = {"POST": [422]}

    @extend_schema(responses=WebhookEndpointSerializer(many=True), summary="The team's webhook endpoints")
    def get(self, request: Request) -> Response:
        return Response(WebhookEndpointSerializer(self.endpoints(), many=True).data)

    @extend_schema(
        request=WebhookEndpointSerializer,
        responses={201: WebhookCreatedSerializer},
        parameters=[IDEMPOTENCY_KEY],
        summary="Add a webhook endpoint (owners); the response holds its signing secret",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = webhooks.create_endpoint(
                team=self.team,
                user=request.user,
                url=serializer.validated_data["url"],
                description=serializer.validated_data.get("description", ""),
            )
        except ssrf.UnsafeUrl as exc:
            raise serializers.ValidationError({"url": [str(exc)]}) from None
        endpoint.secret = webhooks.secret_for(endpoint)
        return created(
            WebhookCreatedSerializer(endpoint).data, reverse("api:webhook-detail", args=[endpoint.pk])
        )


class WebhookDetail(WebhookScoped):
    @extend_schema(summary="One webhook endpoint")
    def get(self, request: Request, webhook_id: int) -> Response:
        return Response(WebhookEndpointSerializer(self.endpoint(webhook_id)).data)

    @extend_schema(summary="Remove a webhook endpoint (owners); its delivery log goes with it")
    def delete(self, request: Request, webhook_id: int) -> Response:
        self.endpoint(webhook_id).delete()
        return Response(status=204)


class WebhookDeliveries(WebhookScoped):
    serializer_class = DeliverySerializer

    @extend_schema(
        responses=DeliverySerializer(many=True), summary="The delivery log of an endpoint, newest first"
    )
    def get(self, request: Request, webhook_id: int) -> Response:
        endpoint = self.endpoint(webhook_id)
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("transition")
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
