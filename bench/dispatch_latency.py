"""Dispatch latency: job creation → the trainer's `started` event, on the local executor.

Two measurements side by side on the same machine, same spec, same tiny model:
  baseline  spawn `python -m trainers run SPEC` directly; time to its `started` event
            (python start-up, torch/transformers import, model and data loading);
  hone      create a job through the service layer; Celery → dispatch → launcher → trainer;
            time from the job's creation to the same `started` event.
Hone's own overhead is the difference (target ≤ 1 s); the ratio is hone / baseline.

Uses DATABASE_URL / CELERY_BROKER_URL when set (PostgreSQL + Redis), else the embedded
default (SQLite + the no-server broker) in a temporary directory.
    python bench/dispatch_latency.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HONE_VAR", tempfile.mkdtemp(prefix="hone-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
os.environ["HONE_INGEST_URL"] = ""
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from tests.support.celery_worker import CeleryWorker  # noqa: E402 (needs ROOT on sys.path)

LONG_RUN = {"lora": {"r": 8}, "training": {"epochs": 50, "batch_size": 4, "checkpoints_per_run": 0}}


def setup_django():
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def fixtures():
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.data.datasets import create_dataset
    from jobs.models import Membership, ModelAsset, Team
    from trainers.tiny import build_tiny_llama, demo_instruction_rows

    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "bench"})
    user, _ = get_user_model().objects.get_or_create(username="bench")
    Membership.objects.get_or_create(team=team, user=user)
    model_dir = Path(os.environ["HONE_VAR"]) / "tiny-llama"
    if not model_dir.exists():
        build_tiny_llama(model_dir)
    model, _ = ModelAsset.objects.get_or_create(
        name="bench-tiny", source="builtin", path=str(model_dir), defaults={"task": "causal-lm"}
    )
    rows = "".join(json.dumps(r) + "\n" for r in demo_instruction_rows(200)).encode()
    dataset = create_dataset(team=team, user=user, name="bench", upload=SimpleUploadedFile("b.jsonl", rows))
    return team, user, model, dataset


def started_time(attempt) -> datetime | None:
    event = attempt.events.filter(kind="started").first()
    return event.time if event else None


def hone_once(team, user, model, dataset) -> tuple[float, float]:
    """(creation → started event, creation → the executor spawning the supervisor)."""
    from jobs import launch
    from jobs.executors import registry
    from jobs.lifecycle import services
    from jobs.models import Attempt, Job

    job = launch.launch_training(
        team=team, user=user, name="bench", base_model=model, dataset=dataset, params=LONG_RUN
    )
    deadline = time.monotonic() + 120
    while True:
        attempt = Attempt.objects.filter(job=job).first()
        if attempt is not None:
            services.sync_events(attempt)  # the reconciler does this every cycle; don't wait for it
            when = started_time(attempt)
            if when:
                break
        if time.monotonic() > deadline:
            sys.exit("the trainer never reported `started`")
        time.sleep(0.02)
    # spec.json is written just before the supervisor process is spawned
    spec_file = registry.current().run_dir(job.pk, attempt.number) / "spec.json"
    spawned = datetime.fromtimestamp(spec_file.stat().st_mtime, tz=UTC)
    services.cancel(Job.objects.get(pk=job.pk))
    while Attempt.objects.filter(job=job, status__in=Attempt.LIVE).exists():
        time.sleep(0.2)
    return (when - job.created_at).total_seconds(), (spawned - job.created_at).total_seconds()


def baseline_once(dataset, model, workdir: Path) -> float:
    from jobs.data import storage
    from trainers.spec import parse_spec

    spec = parse_spec(
        {
            "job_id": 1,
            "attempt": 1,
            "base_model": {"name": model.name, "path": model.path},
            "dataset": {
                "path": str(storage.resolve(dataset.location)),
                "sha256": dataset.sha256,
                "format": dataset.format,
                "task": dataset.task,
            },
            **LONG_RUN,
            "output_dir": str(workdir / "out"),
        }
    )
    spec_file = workdir / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    spawned = datetime.now(UTC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainers", "run", str(spec_file)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "started":
            when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    return (when - spawned).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings

    team, user, model, dataset = fixtures()
    var = Path(settings.VAR_DIR)
    worker = CeleryWorker(dict(os.environ), var / "bench-worker.log", var / "beat")
    worker.start()
    try:
        baseline, hone, spawn = [], [], []
        for i in range(args.runs):  # interleaved so machine noise hits both alike
            with tempfile.TemporaryDirectory() as tmp:
                baseline.append(baseline_once(dataset, model, Path(tmp)))
            total, dispatched = hone_once(team, user, model, dataset)
            hone.append(total)
            spawn.append(dispatched)
            line = f"run {i + 1}: baseline {baseline[-1]:.3f} s   hone {total:.3f} s"
            print(f"{line}   (spawned after {dispatched:.3f} s)", flush=True)
    finally:
        worker.stop()
    b, h = statistics.median(baseline), statistics.median(hone)
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database={db} broker={settings.CELERY_BROKER_URL.split(':')[0]} runs={args.runs}")
    print(f"baseline (trainer alone) median {b:.3f} s")
    print(f"hone (create → started) median {h:.3f} s")
    print(f"creation → trainer spawned median {statistics.median(spawn):.3f} s")
    print(f"overhead {h - b:.3f} s (target ≤ 1.000 s)   ratio hone/baseline {h / b:.2f}")


if __name__ == "__main__":
    main()
