"""Model assets: the catalogue a team can start from, and registering hub ids or local paths.

Registering never fetches anything: a hub id is checked for form only (the trainer loads it
with ``from_pretrained``); a local directory is read for its config and safetensors headers.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import LinkField
from jobs.assets.modelinfo import ModelDirError, describe_model_dir
from jobs.models import ModelAsset

# The form of a Hugging Face repo id: an optional namespace, then a name (huggingface_hub's rule).
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")


class ModelAssetSerializer(serializers.ModelSerializer):
    url = LinkField("api:model-detail")
    shared = serializers.SerializerMethodField(help_text="Built in and shared by every team.")
    path = serializers.SerializerMethodField(help_text="The directory of a model registered by path.")
    produced_by = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The job whose output this model is."
    )
    adapter_base = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="For a LoRA adapter: the id of the model it adapts."
    )

    class Meta:
        model = ModelAsset
        fields = [
            "id",
            "url",
            "name",
            "source",
            "task",
            "format",
            "quantization",
            "adapter_base",
            "hub_id",
            "path",
            "architecture",
            "parameter_count",
            "description",
            "shared",
            "produced_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_shared(self, model: ModelAsset) -> bool:
        return model.team_id is None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_path(self, model: ModelAsset) -> str | None:
        return model.path if model.source == ModelAsset.Source.LOCAL else None


def check_hub_id(value: str) -> str:
    value = value.strip()
    if not HUB_ID.match(value) or "--" in value or ".." in value or value.endswith((".git", ".", "-")):
        raise serializers.ValidationError(
            "not a hub id: use 'name' or 'organisation/name' with letters, digits, '-', '_' and '.'"
        )
    return value


SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
NAME_MAX, PATH_MAX = 255, 4096
NOT_A_MODEL = (
    "there is no model directory Hone may read at this path; it needs config.json and .safetensors weights"
)


def _allowed_roots() -> list[Path] | None:
    """The directories models may come from; None: anywhere (the embedded default)."""
    if settings.HONE_MODEL_DIRS:
        return [Path(d).resolve() for d in settings.HONE_MODEL_DIRS]
    if settings.HONE_MODEL_DIRS_REQUIRED:
        raise serializers.ValidationError(
            "registering models by path is off on this server; an operator allows directories with "
            "HONE_MODEL_DIRS (or register a hub id)"
        )
    return None


def _lexical_checks(value: str) -> Path:
    path = Path(value)
    if not path.is_absolute():
        raise serializers.ValidationError("give an absolute path on the Hone server")
    if (
        "\x00" in value
        or len(value) > PATH_MAX
        or any(len(part.encode("utf-8", "surrogatepass")) > NAME_MAX for part in path.parts)
    ):
        raise serializers.ValidationError(
            f"not a usable path: at most {PATH_MAX} characters, {NAME_MAX} bytes per folder name"
        )
    return path


def check_model_dir(value: str, team=None) -> Path:
    """An absolute directory outside Hone's storage and the system's /proc, /sys and /dev, inside
    HONE_MODEL_DIRS when set, that no other team registered. Outside HONE_MODEL_DIRS nothing in
    an answer tells what exists on the server."""
    path = _lexical_checks(value)
    roots = _allowed_roots()
    system = "paths under /proc, /sys and /dev cannot be registered"
    if any(Path(os.path.normpath(path)).is_relative_to(root) for root in SYSTEM_ROOTS):
        raise serializers.ValidationError(system)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a name the system refuses
        raise serializers.ValidationError(NOT_A_MODEL) from None
    if any(resolved.is_relative_to(root) for root in SYSTEM_ROOTS):
        raise serializers.ValidationError(system)
    if resolved.is_relative_to(Path(settings.HONE_STORAGE).resolve()):
        raise serializers.ValidationError("paths inside Hone's storage cannot be registered")
    if roots is not None and not any(resolved.is_relative_to(root) for root in roots):
        raise serializers.ValidationError(f"models can be registered from {', '.join(map(str, roots))} only")
    taken = ModelAsset.objects.filter(source=ModelAsset.Source.LOCAL).exclude(team=team)
    if team is not None and taken.filter(path=str(resolved)).exists():
        raise serializers.ValidationError(NOT_A_MODEL)  # another team's: not for this one to read
    try:
        is_dir = resolved.is_dir()
    except OSError:
        is_dir = False
    if not is_dir:
        raise serializers.ValidationError(
            f"{value} is not a directory on the Hone server" if roots else NOT_A_MODEL
        )
    return resolved


class ModelRegisterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    hub_id = serializers.CharField(
        max_length=200, required=False, help_text="e.g. 'Qwen/Qwen2.5-0.5B'; give this or path."
    )
    path = serializers.CharField(
        max_length=500, required=False, help_text="A Hugging Face model directory on the server."
    )
    task = serializers.ChoiceField(
        choices=ModelAsset.Task.choices, required=False, help_text="For a hub id; read from a directory."
    )
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate_hub_id(self, value: str) -> str:
        return check_hub_id(value)

    def validate_path(self, value: str) -> str:
        return str(check_model_dir(value, self.context.get("team")))

    def validate(self, attrs: dict) -> dict:
        if ("hub_id" in attrs) == ("path" in attrs):
            raise serializers.ValidationError("give exactly one of 'hub_id' or 'path'")
        if "hub_id" in attrs:
            return {
                **attrs,
                "source": ModelAsset.Source.HUB,
                "task": attrs.get("task", ModelAsset.Task.CAUSAL_LM),
                "name": attrs.get("name") or attrs["hub_id"],
            }
        path = Path(attrs["path"])
        try:
            info = describe_model_dir(path)
        except (
            ModelDirError,
            ValueError,
            OSError,
            KeyError,
            TypeError,
            IndexError,
            AttributeError,
            struct.error,
        ) as exc:
            detail = f"cannot read this model directory: {exc}" if settings.HONE_MODEL_DIRS else NOT_A_MODEL
            raise serializers.ValidationError({"path": [detail]}) from None
        return {
            **attrs,
            "path": str(path),
            "source": ModelAsset.Source.LOCAL,
            "task": info.task,
            "architecture": info.architecture,
            "parameter_count": info.parameter_count,
            "name": attrs.get("name") or path.name,
        }
