"""The reconciler's pass over a sweep: idempotent, short, safe to run from any worker at any time.

One pass, under the sweep's lock: bring the study and the trial jobs together (a trial asked for but
never launched — its worker died in between — is launched now; a trial whose job ended is told its
metric, once), report running trials' eval metrics and stop the losing ones through the normal
cancel path, start trials up to the parallelism budget, and finish the sweep once its budget is
spent. Nothing waits for a training run: the next pass (Celery beat, or a trial's job finishing)
carries on from what the database holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
from collections.abc import Iterator
from datetime import timedelta

import optuna
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from optuna.trial import TrialState

from jobs.data import storage as files
from jobs.launch import LaunchRefused, LaunchRequest, launch, rerun_request
from jobs.lifecycle import services, transitions
from jobs.models import Attempt, Job, MetricPoint
from jobs.sweeps import merge_trials
from jobs.sweeps import study as studies
from trainers import catalogue
from trainers.merge_space import whole_places
from trainers.spec_sweep import Budget
from trainers.sweep_space import apply_point, integer_places, suggest

log = logging.getLogger(__name__)
LOCK_KEY = int.from_bytes(b"hswp", "big")  # pg_try_advisory_lock(LOCK_KEY, sweep id): two int4 keys


def drive_all() -> None:
    """One pass over every running sweep, and over cancelled sweeps whose trials still run."""
    running = Job.objects.filter(kind=Job.Kind.SWEEP, status=Job.Status.RUNNING)
    stopping = Job.objects.filter(kind=Job.Kind.SWEEP, status=Job.Status.CANCELLED).filter(
        Q(trials__status__in=Job.ACTIVE) | Q(trials__trials__status__in=Job.ACTIVE)  # a merge's evaluation
    )
    for sweep_id in {*running.values_list("pk", flat=True), *stopping.values_list("pk", flat=True)}:
        try:
            drive(sweep_id)
        except Exception:
            log.exception("driving sweep %s failed; will retry next cycle", sweep_id)


def drive(sweep_id: int) -> None:
    """One pass over one sweep (given a trial's job, over its sweep); a pass already running elsewhere
    makes this one a no-op."""
    sweep_id = sweep_of(sweep_id)
    with _locked(sweep_id) as held:
        if not held:
            return
        sweep = Job.objects.select_related("team", "created_by", "profile").get(pk=sweep_id)
        if sweep.status == Job.Status.CANCELLED:
            for trial_job in trial_jobs(sweep).filter(status__in=Job.ACTIVE):
                services.cancel(trial_job)
            return
        if sweep.status != Job.Status.RUNNING:
            return
        Pass(sweep, studies.load(sweep)).run()


def sweep_of(job_id: int) -> int:
    """The sweep a job belongs to: itself, its parent (a trial), or its grandparent (an evolved merge's
    evaluation, a child of its merge)."""
    for _ in range(2):
        kind, parent = Job.objects.filter(pk=job_id).values_list("kind", "parent_id").first() or ("", None)
        if kind == Job.Kind.SWEEP or parent is None:
            break
        job_id = parent
    return job_id


def trial_jobs(sweep: Job):
    """Every job of the sweep's trials: training or merge jobs, and the merges' evaluations."""
    return Job.objects.filter(Q(parent=sweep) | Q(parent__parent=sweep))


@contextlib.contextmanager
def _locked(sweep_id: int) -> Iterator[bool]:
    """The sweep's own lock, held by one pass at a time and no transaction: Optuna writes through its
    own connection, which must not wait on ours (SQLite would deadlock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_KEY, sweep_id])
            held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_KEY, sweep_id])
        return
    path = files.root() / "runs" / f"sweep-{sweep_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


@dataclasses.dataclass
class Pass:
    sweep: Job
    study: optuna.Study

    def __post_init__(self) -> None:
        self.search = self.sweep.params
        self.budget = Budget.model_validate(self.search.get("budget") or {})
        self.metric = self.search.get("metric", "eval/loss")
        self.jobs = {j.trial_number: j for j in self.sweep.trials.exclude(trial_number=None)}
        self.merges = self.search.get("trial_kind") == Job.Kind.MERGE

    def run(self) -> None:
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.follow(trial)
        self.start_trials()
        self.finish_if_spent()

    # --- trials in flight ---------------------------------------------------------------

    def follow(self, trial: optuna.trial.FrozenTrial) -> None:
        job = self.jobs.get(trial.number)
        if job is None:  # asked for, never launched: the pass that asked died before launching
            self.launch_trial(optuna.trial.Trial(self.study, trial._trial_id))
        elif self.merges:
            self.follow_merge(trial, job)
        elif job.status == Job.Status.SUCCEEDED:
            values = self.report(trial, job)  # the pruner compares later trials with these
            value = values[-1] if values else None
            if value is None:
                self.tell(trial, TrialState.FAIL, f"the job reported no {self.metric}")
            else:
                self.tell(trial, TrialState.COMPLETE, value=value)
        elif job.status == Job.Status.FAILED:
            self.tell(trial, TrialState.FAIL, job.error or "the job failed")
        elif job.status == Job.Status.CANCELLED:
            pruned = trial.user_attrs.get("pruned")
            self.tell(trial, TrialState.PRUNED if pruned else TrialState.FAIL, "" if pruned else "cancelled")
        else:
            self.report_and_prune(trial, job)

    def follow_merge(self, trial: optuna.trial.FrozenTrial | None, merge: Job) -> None:
        """An evolved merge's trial (``trial`` None: the preset): once its merge succeeded, its model
        scored by an evaluate job; that job's score is the trial's value."""
        if merge.status in (Job.Status.FAILED, Job.Status.CANCELLED):
            if trial is not None:
                self.tell(trial, TrialState.FAIL, merge.error or f"the merge was {merge.status}")
            return
        if merge.status != Job.Status.SUCCEEDED:
            return
        evaluation = merge_trials.evaluation_of(merge)
        if evaluation is None:  # launched once: the pass holds the sweep's lock
            why = self.launch_evaluation(merge)
            if why and trial is not None:
                self.tell(trial, TrialState.FAIL, why)
            elif why:
                log.warning("sweep %s: its preset was not evaluated: %s", self.sweep.pk, why)
        elif evaluation.status in Job.FINISHED and trial is not None:
            value = merge_trials.score(evaluation, self.metric)
            if value is None:
                why = evaluation.error or f"the evaluation reported no {self.metric}"
                self.tell(trial, TrialState.FAIL, why)
            else:
                self.tell(trial, TrialState.COMPLETE, value=value)

    def launch_evaluation(self, merge: Job) -> str:
        """The evaluate job of a merge's model; why not, where it cannot be launched."""
        request = merge_trials.evaluation_request(self.sweep, merge)
        if request is None:
            return "the merge registered no model to evaluate"
        try:
            launch(request)
        except LaunchRefused as exc:
            return f"its evaluation was refused: {exc}"
        return ""

    def report_and_prune(self, trial: optuna.trial.FrozenTrial, job: Job) -> None:
        """Report the evaluations the job streamed since the last pass; stop it if the pruner says it
        is losing. Its trainer checkpoints on SIGTERM, so a pruned trial keeps its last checkpoint."""
        if self.report(trial, job) and optuna.trial.Trial(self.study, trial._trial_id).should_prune():
            studies.storage().set_trial_user_attr(trial._trial_id, "pruned", True)
            services.cancel(job)
            self.tell(trial, TrialState.PRUNED)

    def report(self, trial: optuna.trial.FrozenTrial, job: Job) -> list[float]:
        """The job's evaluations of the metric so far, each reported once as the trial's value at its
        n-th evaluation (the resource pruners compare trials at)."""
        points = MetricPoint.objects.filter(job=job, name=self.metric).order_by("step")
        values = list(points.values_list("value", flat=True))
        for resource, value in enumerate(values, start=1):
            if resource not in trial.intermediate_values:
                studies.storage().set_trial_intermediate_value(trial._trial_id, resource, value)
        return values

    def tell(
        self, trial: optuna.trial.FrozenTrial, state: TrialState, why: str = "", value: float | None = None
    ) -> None:
        """Tell the study how a trial ended, once: a trial told already is left as it is."""
        if why:
            studies.storage().set_trial_user_attr(trial._trial_id, "reason", why[:500])
        self.study.tell(
            trial.number, value if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True
        )

    # --- new trials ---------------------------------------------------------------------

    def start_trials(self) -> None:
        """Ask for trials while the budget allows: trials at once, trials in all, wall clock, GPU-hours.
        First, once, the preset itself (the training job the sweep starts from, unchanged): what the
        best trial is compared with."""
        preset = self.sweep.trials.filter(trial_number=None).first()
        if self.search.get("compare_preset", True) and preset is None:
            try:
                launch(self.preset_request())
            except LaunchRefused as exc:
                log.warning("sweep %s: its preset could not be launched: %s", self.sweep.pk, exc)
        elif preset is not None and self.merges:
            self.follow_merge(None, preset)
        while self.room() > 0:
            trial = self.study.ask()
            self.launch_trial(trial)

    def preset_request(self) -> LaunchRequest:
        """The job the sweep starts from, unchanged: its training job, or its merge as given."""
        if self.merges:
            return merge_trials.merge_request(self.sweep, None, {})
        return trial_request(self.sweep, None, self.sweep.method, self.search.get("trial", {}))

    def preset_running(self) -> bool:
        """The preset's job, or its merge's evaluation, still to finish."""
        return trial_jobs(self.sweep).filter(trial_number=None, status__in=Job.ACTIVE).exists()

    def room(self) -> int:
        trials = self.study.get_trials(deepcopy=False)
        total = min(self.budget.trials, studies.grid_size(self.search) or self.budget.trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        running += self.preset_running()
        if len(trials) >= total or self.out_of_time() or self.out_of_gpu_hours():
            return 0
        return min(self.budget.parallel - running, total - len(trials))

    def out_of_time(self) -> bool:
        if self.budget.max_minutes is None or self.sweep.started_at is None:
            return False
        return timezone.now() >= self.sweep.started_at + timedelta(minutes=self.budget.max_minutes)

    def out_of_gpu_hours(self) -> bool:
        if self.budget.gpu_hours is None:
            return False
        return gpu_hours_used(self.sweep) >= self.budget.gpu_hours

    def launch_trial(self, trial: optuna.trial.Trial) -> None:
        """The trial as an ordinary training job, through the one launch path. A point the launch path
        refuses (a combination the space allowed but the method does not) fails that trial only."""
        request = self.point_request(trial)
        try:
            job = launch(request)
        except LaunchRefused as exc:
            frozen = studies.storage().get_trial(trial._trial_id)
            self.tell(frozen, TrialState.FAIL, f"refused: {exc}")
            return
        self.jobs[trial.number] = job

    def point_request(self, trial: optuna.trial.Trial) -> LaunchRequest:
        """The job a trial's point makes: a training job, or an evolved merge's merge job."""
        space = self.search["space"]
        if self.merges:
            point = suggest(trial, space, whole_places(space, self.sweep.method))
            return merge_trials.merge_request(self.sweep, trial.number, point)
        method_params = catalogue.METHODS[self.sweep.method].method_params
        point = suggest(trial, space, integer_places(space, method_params))
        method, params = apply_point(
            self.sweep.method, self.sweep.objective, self.search.get("trial", {}), point
        )
        return trial_request(self.sweep, trial.number, method, params)

    # --- the end ------------------------------------------------------------------------

    def finish_if_spent(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        if self.room() > 0 or self.preset_running() or any(t.state == TrialState.RUNNING for t in trials):
            return
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        now = timezone.now()
        if complete:
            transitions.move(
                self.sweep.pk, to=Job.Status.SUCCEEDED, expected=Job.Status.RUNNING, finished_at=now
            )
            return
        error = f"no trial finished with a {self.metric}" if trials else "the budget allowed no trial"
        transitions.move(
            self.sweep.pk, to=Job.Status.FAILED, expected=Job.Status.RUNNING, finished_at=now, error=error
        )


def trial_request(sweep: Job, number: int | None, method: str, params: dict) -> LaunchRequest:
    """A trial's training job: the sweep's inputs, team, owner and compute profile."""
    inputs = rerun_request(sweep, user=sweep.created_by)
    label = f"trial {number}" if number is not None else "preset"
    return LaunchRequest(
        kind=Job.Kind.TRAIN,
        team=sweep.team,
        user=sweep.created_by,
        name=f"{sweep.name} · {label}"[:200],
        method=method,
        objective=sweep.objective,
        params=params,
        models=inputs.models,
        datasets=inputs.datasets,
        profile=sweep.profile,
        parent=sweep,
        trial_number=number,
    )


def gpu_hours_used(sweep: Job) -> float:
    """GPU-hours the sweep's trials used so far, from their attempts (a running one up to now)."""
    attempts = Attempt.objects.filter(job__in=trial_jobs(sweep))
    return _attempt_time(attempts, by_gpus=True) / 3600


def attempt_seconds(jobs) -> float:
    """Seconds the attempts of ``jobs`` ran, a running one up to now (a CPU-only sweep's compute)."""
    return _attempt_time(Attempt.objects.filter(job__in=jobs))


def _attempt_time(attempts, *, by_gpus: bool = False) -> float:
    now = timezone.now()
    total = timedelta()
    for attempt in attempts.filter(started_at__isnull=False).only("started_at", "finished_at", "gpu_count"):
        total += ((attempt.finished_at or now) - attempt.started_at) * (attempt.gpu_count if by_gpus else 1)
    return total.total_seconds()
