"""Runs Hone's own code against the private servers, for the fault-injection tests.

    python tests/reliability/driver.py setup            # migrate; team, user, model, dataset
    python tests/reliability/driver.py create N         # queue N training jobs; prints their ids
    python tests/reliability/driver.py report           # jobs and attempts as JSON

Environment: DATABASE_URL, CELERY_BROKER_URL, HONE_STORAGE, HONE_VAR, as for the worker.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")


def setup() -> None:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from jobs.data.datasets import create_dataset
    from jobs.models import Membership, ModelAsset, Team
    from trainers.tiny import demo_instruction_rows

    call_command("migrate", verbosity=0, interactive=False)
    team, _ = Team.objects.get_or_create(slug="faults", defaults={"name": "faults"})
    user, _ = get_user_model().objects.get_or_create(username="faults")
    Membership.objects.get_or_create(team=team, user=user)
    ModelAsset.objects.get_or_create(
        name="tiny", source="builtin", defaults={"path": os.environ["TINY_MODEL"], "task": "causal-lm"}
    )
    rows = "".join(json.dumps(r) + "\n" for r in demo_instruction_rows(60)).encode()
    create_dataset(team=team, user=user, name="faults", upload=SimpleUploadedFile("f.jsonl", rows))


def create(count: int, params: dict) -> list[int]:
    from jobs import launch
    from jobs.models import Dataset, ModelAsset, Team

    team = Team.objects.get(slug="faults")
    model, dataset = ModelAsset.objects.get(name="tiny"), Dataset.objects.filter(team=team).first()
    return [
        launch.launch_training(
            team=team, user=None, name=f"job {i}", base_model=model, dataset=dataset, params=params
        ).pk
        for i in range(count)
    ]


def report() -> dict:
    from jobs.models import Attempt, Job, MetricPoint

    return {
        "jobs": list(Job.objects.values("id", "status", "attempt_count", "step", "total_steps", "error")),
        "attempts": list(
            Attempt.objects.values("id", "job_id", "number", "status", "exit_code", "reason", "resumed_from")
        ),
        "metrics": list(MetricPoint.objects.values("job_id", "name", "step")),
    }


if __name__ == "__main__":
    import django

    django.setup()
    command = sys.argv[1]
    if command == "setup":
        setup()
    elif command == "create":
        params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {"lora": {}, "training": {"epochs": 1}}
        print(json.dumps(create(int(sys.argv[2]), params)))
    elif command == "report":
        print(json.dumps(report(), default=str))
    else:
        sys.exit(f"unknown command {command!r}")
