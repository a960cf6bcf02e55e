"""An evolved merge end to end with the real trainer: a sweep whose trials are linear merges of two tiny
LMs, each fine-tuned on one half of a toy task, scored by evaluate jobs on a set nine tenths from half A.
The searched weights beat the uniform merge (the preset) on the evaluation's perplexity."""

from __future__ import annotations

import sys
import time

import pytest

from jobs.executors import registry
from jobs.launch import launch
from jobs.lifecycle import services
from jobs.models import Job
from jobs.sweeps import driver, results


@pytest.fixture(autouse=True)
def _real_trainer(settings):
    settings.HONE_TRAINER_PYTHON = sys.executable
    settings.HONE_LOCAL_SLOTS = 4
    settings.HONE_INGEST_URL = ""


def sweep_to_end(sweep: Job, rounds: int = 20, timeout: float = 240) -> None:
    """Pass, run every job the pass started side by side, until the sweep ends."""
    executor = registry.current()
    for _ in range(rounds):
        driver.drive(sweep.pk)
        sweep.refresh_from_db()
        if sweep.status != "running":
            return
        queued = driver.trial_jobs(sweep).filter(status="queued")
        started = [(job, services.dispatch(job.pk)) for job in queued]
        deadline = time.monotonic() + timeout
        for job, attempt in started:
            attempt = attempt or job.attempts.get()
            while executor.observe(job.pk, attempt.number).phase in ("pending", "running"):
                assert time.monotonic() < deadline, "the trainer did not exit in time"
                time.sleep(0.1)
        services.reconcile()
    raise AssertionError(f"the sweep did not end in {rounds} rounds")


def test_an_evolved_merge_beats_the_uniform_merge_of_the_same_models(merge_sweep_request, capsys):
    sweep = launch(merge_sweep_request())
    sweep_to_end(sweep)
    assert sweep.status == "succeeded", sweep.error
    found = results.summary(sweep)
    assert [t.state for t in found.trials] == ["complete"] * 5, [t.reason for t in found.trials]
    # Each trial: a merge job with the point's weights, scored by its own evaluate job.
    for trial in found.trials:
        merge = Job.objects.get(pk=trial.job)
        evaluation = Job.objects.get(pk=trial.evaluation)
        assert (merge.kind, merge.parent_id, evaluation.kind, evaluation.parent_id) == (
            "merge", sweep.pk, "evaluate", merge.pk,
        )
        weights = [i.weight for i in merge.inputs.filter(role="model").order_by("position")]
        assert weights == [pytest.approx(trial.params["models.0.weight"]), None]
        assert trial.attempt_seconds > 0
    preset = found.preset
    assert preset.state == "succeeded" and preset.params == {"models.0.weight": None, "models.1.weight": None}
    assert found.best.value < preset.value  # the evolved weights beat the uniform merge
    assert found.best.params["models.0.weight"] > 1  # towards model A, as nine rows in ten are half A
    assert found.gain == pytest.approx(preset.value - found.best.value)
    with capsys.disabled():
        print(
            f"\nevolved merge: uniform perplexity {preset.value:.3f}, best {found.best.value:.3f} "
            f"(weight of A {found.best.params['models.0.weight']:.3f} : 1), trials "
            f"{[round(t.value, 3) for t in found.trials]}, compute {found.compute_seconds:.1f} s"
        )
