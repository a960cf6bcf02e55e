"""Create or update a compute profile from the command line (operators, deploy scripts).

    python manage.py compute_profile gpu-a100 --gpus 1 --gpu-type nvidia-a100-80gb \\
        --cpu 8 --memory 64Gi --node-selector nvidia.com/gpu.present=true \\
        --toleration nvidia.com/gpu:NoSchedule --max-runtime-hours 24

Running it again with other values updates the profile; unnamed options keep their values.
"""

from __future__ import annotations

import argparse
import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.models import ComputeProfile

QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_toleration(text: str) -> dict:
    """``key[=value]:Effect`` as a Kubernetes toleration (Exists when no value is given)."""
    key_value, _, effect = text.rpartition(":")
    if not key_value or effect not in EFFECTS:
        effects = ", ".join(EFFECTS)
        raise CommandError(f"--toleration {text!r}: write key[=value]:Effect, Effect one of {effects}")
    key, eq, value = key_value.partition("=")
    if eq:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def parse_label(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise CommandError(f"--node-selector {text!r}: write key=value, e.g. nvidia.com/gpu.present=true")
    return key, value


class Command(BaseCommand):
    help = "Create or update a compute profile (resources, placement and time limit of attempts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--description")
        parser.add_argument("--executor", choices=ComputeProfile.Executor.values)
        parser.add_argument("--gpus", type=int, dest="gpu_count")
        parser.add_argument("--gpu-type")
        parser.add_argument("--nodes", type=int, help="Nodes (pods) one attempt trains on together.")
        parser.add_argument(
            "--processes-per-node", type=int, help="Training processes per node (default: one per GPU)."
        )
        parser.add_argument("--cpu")
        parser.add_argument("--memory")
        parser.add_argument("--node-selector", action="append", type=parse_label, metavar="KEY=VALUE")
        parser.add_argument(
            "--toleration", action="append", type=parse_toleration, metavar="KEY[=VALUE]:EFFECT"
        )
        parser.add_argument("--priority-class")
        parser.add_argument("--max-runtime-hours", type=float)
        parser.add_argument("--held", action=argparse.BooleanOptionalAction)

    def handle(self, *args, **options) -> None:
        fields = {
            name: options[name]
            for name in ("description", "executor", "gpu_count", "gpu_type", "cpu", "memory")
            + ("priority_class", "nodes", "processes_per_node")
            if options[name] is not None
        }
        for name in ("cpu", "memory"):
            if name in fields and not QUANTITY.match(fields[name]):
                example = "e.g. 8, 3500m, 64Gi"
                raise CommandError(f"--{name} {fields[name]!r} is not a Kubernetes quantity ({example})")
        if options["gpu_count"] is not None and options["gpu_count"] < 0:
            raise CommandError("--gpus must be 0 or more")
        for name, most in (("nodes", 64), ("processes_per_node", 16)):
            if options[name] is not None and not 1 <= options[name] <= most:
                raise CommandError(f"--{name.replace('_', '-')} must be from 1 to {most}")
        if options["node_selector"] is not None:
            fields["node_selector"] = dict(options["node_selector"])
        if options["toleration"] is not None:
            fields["tolerations"] = options["toleration"]
        if options["max_runtime_hours"] is not None:
            fields["max_runtime_seconds"] = max(int(options["max_runtime_hours"] * 3600), 60)
        if options["held"] is not None:
            fields["is_held"] = options["held"]
        profile, created = ComputeProfile.objects.update_or_create(name=options["name"], defaults=fields)
        verb = "created" if created else "updated"
        gpus = f"{profile.gpu_count}× {profile.gpu_type or 'GPU'}" if profile.gpu_count else "no GPU"
        self.stdout.write(
            f"{verb} compute profile {profile.name}: {profile.executor}, {gpus}, {profile.cpu} CPU, "
            f"{profile.memory} memory, at most {profile.max_runtime_seconds // 3600} h; "
            f"{profile.shape_text} per attempt"
        )
