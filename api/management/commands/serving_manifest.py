"""Print the vLLM serving Deployment and Service for a base model and every fine-tune (LoRA
adapter) of it a team has, on a GPU compute profile, for ``kubectl apply -f -``:

    python manage.py serving_manifest acme tiny-llama-3 --profile gpu-a100 | kubectl apply -f -

Clients then call the Service's ``/v1/chat/completions`` with the same model ids
``/openai/v1/models`` shows (``ft:<base>:<team>:<suffix>:<id>``). Run it again after new fine-tunes
to add them (vLLM reads its adapters at start).
"""

from __future__ import annotations

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.openai_compat import errors, lookup
from jobs.executors import k8s_serving
from jobs.executors.k8s_manifest import KubeSettings, label_value
from jobs.lifecycle.services import profile_fields
from jobs.models import ComputeProfile, ModelAsset, Team


class Command(BaseCommand):
    help = "Print a vLLM Deployment + Service serving a base model and its team's fine-tunes (multi-LoRA)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="the team's slug")
        parser.add_argument("model", help="the base model, as /openai/v1/models names it (or its exact name)")
        parser.add_argument("--profile", required=True, help="a GPU compute profile")
        parser.add_argument("--image", default=settings.HONE_VLLM_IMAGE)
        parser.add_argument("--replicas", type=int, default=1)

    def handle(self, *args, **options) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        profile = ComputeProfile.objects.filter(name=options["profile"]).first()
        if team is None or profile is None:
            raise CommandError(
                f"no team {options['team']!r}" if team is None else f"no profile {options['profile']!r}"
            )
        try:
            base = lookup.find(team, options["model"])
        except errors.NotFound as exc:
            raise CommandError(str(exc.detail)) from None
        if base.format != ModelAsset.Format.TRANSFORMERS or base.task != ModelAsset.Task.CAUSAL_LM:
            raise CommandError(f"{base.name} is not a text-generation transformers model; pick a base model")
        adapters = ModelAsset.objects.filter(team=team, format=ModelAsset.Format.ADAPTER, adapter_base=base)
        served = k8s_serving.Served(
            name=label_value(f"serve-{team.slug}-{lookup.show_id(base)}".lower())[:63].rstrip("-."),
            base_id=lookup.show_id(base),
            base_path=base.path or base.hub_id,
            adapters=tuple((lookup.show_id(a), a.path) for a in adapters.order_by("pk")),
        )
        cfg = KubeSettings.from_django()
        try:
            docs = k8s_serving.build(
                cfg, served, profile_fields(profile), image=options["image"], replicas=options["replicas"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))
