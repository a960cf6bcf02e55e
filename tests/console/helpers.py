"""Building queues for tests: queued jobs, and past attempts that make up a team's usage."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from jobs.models import Attempt, ComputeProfile, Job, ModelAsset, Team

FAKE_PYTHON = Path(__file__).resolve().parents[1] / "support" / "fake-python"
PARAMS = {"lora": {"r": 4}, "training": {"epochs": 1}}


def gpu_profile(name: str = "gpu", *, gpus: int = 1, slots: int = 8, **fields) -> ComputeProfile:
    """A local-executor profile that hands each attempt ``gpus`` GPUs (the fake trainer uses none)."""
    return ComputeProfile.objects.create(name=name, executor="local", gpu_count=gpus, slots=slots, **fields)


def base_model() -> ModelAsset:
    # The fake trainer never opens it; the spec only needs a reference.
    model, _ = ModelAsset.objects.get_or_create(
        name="fake-base", defaults={"source": "builtin", "path": "/models/fake-base", "task": "causal-lm"}
    )
    return model


def queued_job(
    team: Team,
    *,
    profile: ComputeProfile | None = None,
    priority: int = 0,
    age: timedelta = timedelta(0),
    dataset=None,
    name: str = "job",
) -> Job:
    """A queued training job, ``age`` old; with ``dataset`` its spec is complete enough to run."""
    job = Job.objects.create(
        team=team,
        name=name,
        profile=profile,
        priority=priority,
        base_model=base_model(),
        dataset=dataset,
        params=PARAMS,
    )
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - age)
    job.refresh_from_db()
    return job


def past_usage(
    team: Team,
    *,
    hours: float,
    gpus: int = 1,
    ended: datetime | None = None,
    running: bool = False,
) -> Attempt:
    """An attempt of ``team`` that ran ``hours`` with ``gpus`` GPUs, ending at ``ended`` (default
    now); ``running``: it started ``hours`` ago and is still running."""
    end = ended or timezone.now()
    status = Job.Status.RUNNING if running else Job.Status.SUCCEEDED
    job = Job.objects.create(team=team, name="past", status=status, base_model=base_model(), params=PARAMS)
    return Attempt.objects.create(
        job=job,
        number=1,
        executor="local",
        gpu_count=gpus,
        status=Attempt.Status.RUNNING if running else Attempt.Status.SUCCEEDED,
        started_at=end - timedelta(hours=hours),
        finished_at=None if running else end,
    )
