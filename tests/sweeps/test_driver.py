"""The sweep driver: the reconciler's pass, against real (fake) trainer processes and Optuna's RDB
storage in the test database. Driving twice, or after a worker died mid-pass, loses and repeats
nothing; a losing trial is stopped through the normal cancel path."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest

from jobs.executors import registry
from jobs.launch import launch
from jobs.lifecycle import services
from jobs.models import Job, MetricPoint
from jobs.sweeps import driver, study

FAKE_PYTHON = Path(__file__).resolve().parents[1] / "support" / "fake-python"


@pytest.fixture(autouse=True)
def _fake_trainer(settings, monkeypatch):
    settings.HONE_TRAINER_PYTHON = str(FAKE_PYTHON)
    settings.HONE_INGEST_URL = ""
    settings.HONE_LOCAL_SLOTS = 8


def states(sweep: Job) -> list[str]:
    return [t.state.name for t in study.load(sweep).get_trials(deepcopy=False)]


def run_to_end(job: Job, timeout: float = 20) -> None:
    attempt = services.dispatch(job.pk) or job.attempts.get()
    executor, deadline = registry.current(), time.monotonic() + timeout
    while executor.observe(job.pk, attempt.number).phase in ("pending", "running"):
        assert time.monotonic() < deadline, "the trainer did not exit in time"
        time.sleep(0.05)
    services.reconcile()
    job.refresh_from_db()


def sweep_to_end(sweep: Job, rounds: int = 10, timeout: float = 20) -> None:
    """Pass, run what the pass started, until the sweep ends."""
    for _ in range(rounds):
        driver.drive(sweep.pk)
        sweep.refresh_from_db()
        if sweep.status != "running":
            return
        for job in driver.trial_jobs(sweep).filter(status__in=Job.ACTIVE):  # merges' evaluations too
            run_to_end(job, timeout)
    raise AssertionError(f"the sweep did not end in {rounds} rounds")


def test_a_pass_starts_trials_up_to_the_parallelism_budget_and_driving_again_adds_none(sweep_request):
    sweep = launch(sweep_request())
    driver.drive(sweep.pk)
    driver.drive(sweep.pk)
    trials = list(sweep.trials.order_by("trial_number"))
    assert [t.trial_number for t in trials] == [0, 1]
    assert states(sweep) == ["RUNNING", "RUNNING"]
    for trial in trials:  # ordinary training jobs: queued for the dispatcher, with the point's values
        assert (trial.kind, trial.status, trial.team_id, trial.base_model_id) == (
            "train",
            "queued",
            sweep.team_id,
            sweep.base_model_id,
        )
        assert trial.params["lora"]["r"] in (2, 4)
        assert 1e-4 <= trial.params["training"]["learning_rate"] <= 1e-2
        assert trial.params["training"]["epochs"] == 1


def test_a_worker_killed_between_asking_and_launching_loses_no_trial(sweep_request, monkeypatch):
    sweep = launch(sweep_request(budget={"trials": 3, "parallel": 1}))
    real_launch = driver.launch

    def dies(request):
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(driver, "launch", dies)
    with pytest.raises(SystemExit):
        driver.drive(sweep.pk)
    assert states(sweep) == ["RUNNING"] and not sweep.trials.exists()  # asked for, never launched
    monkeypatch.setattr(driver, "launch", real_launch)
    driver.drive(sweep.pk)  # the next pass, on any worker, launches the asked-for trial: no new one
    assert states(sweep) == ["RUNNING"]
    assert list(sweep.trials.values_list("trial_number", flat=True)) == [0]
    point = study.load(sweep).trials[0].params
    assert sweep.trials.get().params["lora"]["r"] == point["lora.r"]


def test_a_finished_trial_is_told_once_and_the_sweep_moves_on(sweep_request):
    sweep = launch(sweep_request(budget={"trials": 2, "parallel": 1}))
    driver.drive(sweep.pk)
    run_to_end(sweep.trials.get(trial_number=0))
    driver.drive(sweep.pk)
    driver.drive(sweep.pk)  # reported twice: counted once
    trials = study.load(sweep).get_trials(deepcopy=False)
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "RUNNING")]
    assert trials[0].value == pytest.approx(0.4)  # the fake trainer's last eval/loss
    run_to_end(sweep.trials.get(trial_number=1))
    driver.drive(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == "succeeded" and sweep.finished_at is not None
    assert states(sweep) == ["COMPLETE", "COMPLETE"]
    assert sweep.trials.count() == 2


def test_pruning_stops_a_losing_trial_through_cancel(sweep_request, monkeypatch):
    sweep = launch(sweep_request(budget={"trials": 4, "parallel": 2}, warmup_evals=0))
    driver.drive(sweep.pk)
    for number in (0, 1):  # two finished trials: the median pruner's reference (0.4 at the 1st eval)
        run_to_end(sweep.trials.get(trial_number=number))
    monkeypatch.setenv("FAKE_TRAINER_SLEEP", "30")
    driver.drive(sweep.pk)
    losing, winning = sweep.trials.get(trial_number=2), sweep.trials.get(trial_number=3)
    for job, value in ((losing, 5.0), (winning, 0.1)):
        attempt = services.dispatch(job.pk) or job.attempts.get()
        MetricPoint.objects.create(job=job, attempt=attempt, name="eval/loss", step=2, value=value)
    driver.drive(sweep.pk)
    losing.refresh_from_db()
    winning.refresh_from_db()
    assert losing.status == "cancelled"  # the normal cancel path: its trainer is stopped by the reconciler
    assert winning.status in Job.ACTIVE
    trials = study.load(sweep).get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED", "RUNNING"]
    assert trials[2].user_attrs["pruned"] is True
    driver.drive(sweep.pk)  # the cancelled job is not told again as a failure
    assert states(sweep)[2] == "PRUNED"
    services.cancel(winning)
    services.reconcile()


def test_the_warm_up_keeps_a_trial_losing_at_its_first_evaluations_running(sweep_request, monkeypatch):
    # evals_per_run 4: by default the median pruner may stop a trial from its 3rd evaluation on.
    sweep = launch(
        sweep_request(budget={"trials": 3, "parallel": 2}, trial={"training": {"evals_per_run": 4}})
    )
    assert study.warmup_evals(sweep.params) == 2
    driver.drive(sweep.pk)
    for number in (0, 1):
        run_to_end(sweep.trials.get(trial_number=number))
    monkeypatch.setenv("FAKE_TRAINER_SLEEP", "30")
    driver.drive(sweep.pk)
    late = sweep.trials.get(trial_number=2)
    attempt = services.dispatch(late.pk) or late.attempts.get()
    MetricPoint.objects.create(job=late, attempt=attempt, name="eval/loss", step=2, value=5.0)
    driver.drive(sweep.pk)  # losing at its 1st evaluation, inside the warm-up: not stopped
    late.refresh_from_db()
    assert late.status in Job.ACTIVE
    assert states(sweep) == ["COMPLETE", "COMPLETE", "RUNNING"]
    services.cancel(late)
    services.reconcile()


@pytest.mark.parametrize(
    ("search", "warmup"),
    [({}, 2), ({"trial": {"training": {"evals_per_run": 8}}}, 4), ({"warmup_evals": 0}, 0)],
)
def test_the_median_pruners_warm_up_is_half_the_evaluations_unless_given(search, warmup):
    assert study.warmup_evals(search) == warmup
    pruner = study.pruner({"pruner": "median", **search})
    assert pruner._n_warmup_steps == warmup + 1  # steps are evaluations counted from 1


def test_cancelling_a_sweep_cancels_its_running_trials(sweep_request):
    sweep = launch(sweep_request())
    driver.drive(sweep.pk)
    services.cancel(sweep)
    driver.drive_all()
    assert set(sweep.trials.values_list("status", flat=True)) == {"cancelled"}


def test_a_grid_sweep_runs_each_point_once(sweep_request):
    space = {"lora.r": {"choices": [2, 4]}, "lora.use_dora": {"choices": [False, True]}}
    sweep = launch(sweep_request(sampler="grid", space=space, budget={"trials": 10, "parallel": 10}))
    driver.drive(sweep.pk)
    points = {(t.params["lora"]["r"], t.params["lora"]["use_dora"]) for t in sweep.trials.all()}
    assert points == {(2, False), (2, True), (4, False), (4, True)}


def test_its_study_lives_in_hones_database(sweep_request):
    sweep = launch(sweep_request())
    driver.drive(sweep.pk)
    assert study.storage_url().startswith("postgresql+psycopg://")
    names = [s.study_name for s in optuna.get_all_study_summaries(study.storage())]
    assert study.study_name(sweep) in names


def test_a_point_the_launch_path_refuses_fails_that_trial_only(sweep_request):
    # max_batch_tokens must hold max_seq_length (512 by default): 16 is refused at launch, 4096 runs.
    space = {"training.max_batch_tokens": {"choices": [16, 4096]}}
    sweep = launch(sweep_request(sampler="grid", space=space, budget={"trials": 2, "parallel": 2}))
    driver.drive(sweep.pk)
    trials = {t.params["training.max_batch_tokens"]: t for t in study.load(sweep).get_trials(deepcopy=False)}
    assert trials[16].state.name == "FAIL" and "max_batch_tokens" in trials[16].user_attrs["reason"]
    assert trials[4096].state.name == "RUNNING"
    assert list(sweep.trials.values_list("params__training__max_batch_tokens", flat=True)) == [4096]


def test_past_its_wall_clock_a_sweep_starts_no_trial_and_ends(sweep_request):
    from datetime import timedelta

    sweep = launch(sweep_request(budget={"trials": 4, "parallel": 2, "max_minutes": 1}))
    Job.objects.filter(pk=sweep.pk).update(started_at=sweep.started_at - timedelta(minutes=2))
    driver.drive(sweep.pk)
    sweep.refresh_from_db()
    assert not sweep.trials.exists()
    assert (sweep.status, sweep.error) == ("failed", "the budget allowed no trial")


def test_a_trial_ending_asks_for_a_pass_over_its_sweep(sweep_request, monkeypatch):
    from jobs import tasks

    sweep = launch(sweep_request())
    driver.drive(sweep.pk)
    asked = []
    monkeypatch.setattr(tasks.drive_sweep, "delay", asked.append)
    monkeypatch.setattr(tasks.stop_attempts, "delay", lambda job_id: None)
    trial = sweep.trials.first()
    tasks.on_job_changed(Job, job_id=trial.pk, status="cancelled")
    tasks.on_job_changed(Job, job_id=trial.pk, status="queued")  # nothing to tell yet
    assert asked == [sweep.pk]


def test_a_pass_while_another_holds_the_sweep_does_nothing(sweep_request):
    import psycopg
    from django.db import connection

    sweep = launch(sweep_request())
    db = connection.settings_dict
    other = psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    try:  # another worker's pass, mid-way
        other.execute("SELECT pg_advisory_lock(%s, %s)", [driver.LOCK_KEY, sweep.pk])
        driver.drive(sweep.pk)
        assert not sweep.trials.exists()
        # Unlocked before closing: a closed connection's server process ends (and drops its locks) a
        # moment later, which made the pass below find the lock still held now and then.
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [driver.LOCK_KEY, sweep.pk])
    finally:
        other.close()
    driver.drive(sweep.pk)
    assert sweep.trials.count() == 2


@pytest.mark.parametrize(
    ("sampler", "pruner", "kind"),
    [
        ("tpe", "median", optuna.pruners.MedianPruner),
        ("random", "successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("random", "hyperband", optuna.pruners.HyperbandPruner),
        ("tpe", "none", optuna.pruners.NopPruner),
    ],
)
def test_each_sampler_and_pruner_drives_a_sweep(sweep_request, sampler, pruner, kind):
    sweep = launch(sweep_request(sampler=sampler, pruner=pruner))
    driver.drive(sweep.pk)
    loaded = study.load(sweep)
    assert isinstance(loaded.pruner, kind)
    assert sweep.trials.count() == 2
    assert len({tuple(sorted(t.params.items())) for t in loaded.trials}) == 2  # two different points


def test_once_its_trials_used_the_gpu_hours_a_sweep_starts_no_more(sweep_request):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import Attempt

    sweep = launch(sweep_request(budget={"trials": 6, "parallel": 1, "gpu_hours": 1.5}))
    driver.drive(sweep.pk)
    first = sweep.trials.get()
    now = timezone.now()
    Attempt.objects.create(
        job=first, number=1, executor="local", gpu_count=2, status="failed",
        started_at=now - timedelta(hours=1), finished_at=now,
    )  # fmt: skip
    assert driver.gpu_hours_used(sweep) == pytest.approx(2.0, abs=0.01)
    Job.objects.filter(pk=first.pk).update(status="failed", error="boom")
    driver.drive(sweep.pk)
    assert states(sweep) == ["FAIL"]  # told, and no trial after it: the budget is spent
    sweep.refresh_from_db()
    assert sweep.status == "failed" and sweep.trials.count() == 1
