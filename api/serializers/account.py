"""The caller, their teams, their tokens; the method catalogue and compute profiles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from api.models import ApiToken
from jobs.models import ComputeProfile, Team


class UserSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, allow_blank=True, help_text="Empty when not set.")

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.CharField(help_text="Your role in this team: owner, member or viewer.")

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "role", "created_at"]
        read_only_fields = fields


class TokenSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)
    team = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "hint",
            "team",
            "state",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    team = TeamSerializer(help_text="The team this request acts for.")
    can_launch = serializers.BooleanField()
    auth = serializers.ChoiceField(choices=["token", "session"])
    token = TokenSerializer(allow_null=True, help_text="The token in use, if any.")


class MethodSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text="The job kind that runs it.")
    title = serializers.CharField()
    description = serializers.CharField()
    dataset_tasks = serializers.ListField(child=serializers.CharField())
    parameters = serializers.DictField(help_text="JSON schema of the job's `params` for this method.")
    # Training methods only (trainers/catalogue.py):
    paper = serializers.CharField(required=False, help_text="Where the method is described.")
    objectives = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Training objectives it can train."
    )
    needs_cuda = serializers.BooleanField(required=False, help_text="Runs only where a CUDA GPU is.")
    artifact = serializers.CharField(required=False, help_text="What a job saves: 'adapter' or 'model'.")
    details = serializers.DictField(
        help_text="What the method needs besides params, e.g. for merges min_models, needs_base and how "
        "it reads each model's weight; for quantize methods the outputs they can write."
    )


class ComputeProfileSerializer(serializers.ModelSerializer):
    processes_per_node = serializers.IntegerField(
        source="per_node", read_only=True, help_text="Training processes on each node (one per GPU)."
    )
    total_gpus = serializers.IntegerField(
        read_only=True, help_text="GPUs one attempt holds: nodes × gpu_count."
    )
    shape = serializers.CharField(source="shape_text", read_only=True, help_text="e.g. '2 nodes × 4 GPUs'.")

    class Meta:
        model = ComputeProfile
        fields = [
            "id",
            "name",
            "description",
            "executor",
            "gpu_type",
            "gpu_count",
            "nodes",
            "processes_per_node",
            "total_gpus",
            "shape",
            "cpu",
            "memory",
            "max_runtime_seconds",
            "is_held",
        ]
        read_only_fields = fields
