"""SIGTERM the trainer mid-run (a preemption): the attempt is recorded as preempted, the job
resumes from its last checkpoint, runs exactly the planned number of optimizer steps, and
no metric step is recorded twice."""

from __future__ import annotations

import os
import signal

import pytest

from jobs.models import Event, Job, MetricPoint
from tests.integration.test_worker_flow import start, status_of, trainer_pid
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

# Packed rows in token-budget batches (trainers/packing.py): the resume must find its place in
# batches made by Hone, not by the Trainer's sampler.
PARAMS = {
    "lora": {"r": 8},
    "training": {
        "epochs": 6,
        "checkpoints_per_run": 12,
        "max_seq_length": 128,
        "max_batch_tokens": 256,
        "packing": True,
    },
}


def test_a_preempted_trainer_resumes_from_its_checkpoint(live, team, member, tiny_model, demo_rows):
    job = start(team, member, tiny_model, demo_rows, PARAMS)
    first_checkpoint = lambda: Event.objects.filter(attempt__job=job, kind="checkpoint").first()  # noqa: E731
    checkpoint = wait_for(first_checkpoint, timeout=180, what="a first checkpoint")
    os.kill(trainer_pid(job, 1), signal.SIGTERM)
    wait_for(lambda: status_of(job) in Job.FINISHED, timeout=240, what="the job to finish")

    first, second = job.attempts.order_by("number")
    assert (job.status, first.status, first.exit_code, second.status) == (
        "succeeded",
        "preempted",
        143,
        "succeeded",
    )
    assert "checkpoint-" in second.resumed_from
    planned = first.events.get(kind="started").payload["total_steps"]
    assert job.step == job.total_steps == planned
    resumed_at = int(second.resumed_from.rsplit("-", 1)[-1])
    assert resumed_at >= checkpoint.payload["step"]
    second_steps = [
        e.payload["step"]
        for e in second.events.filter(kind="metric", payload__name="loss", payload__split="train")
    ]
    assert min(second_steps) > resumed_at  # it did not start over
    steps = list(MetricPoint.objects.filter(job=job, name="train/loss").values_list("step", flat=True))
    assert len(steps) == len(set(steps))
    assert max(steps) == planned
