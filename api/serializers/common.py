"""Small pieces the resource serializers share."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class RefSerializer(serializers.Serializer):
    """Another object, by id and name."""

    id = serializers.IntegerField()
    name = serializers.CharField()


@extend_schema_field(serializers.CharField(help_text="The object's path in the API."))
class LinkField(serializers.Field):
    """The API path of an object, from a URL name and the object's id."""

    def __init__(self, url_name: str, **kwargs) -> None:
        self.url_name = url_name
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        return reverse(self.url_name, args=[value.pk])


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs) -> None:
        super().__init__(slug_field="username", read_only=True, allow_null=True, **kwargs)
