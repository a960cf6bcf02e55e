"""A sweep read back: its trials with their jobs, the best one, the preset it is compared with, and
how much each parameter mattered (Optuna's PED-ANOVA importance evaluator)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import optuna
from optuna.trial import TrialState

from jobs.models import Job, MetricPoint
from jobs.sweeps import merge_trials
from jobs.sweeps import study as studies
from jobs.sweeps.driver import attempt_seconds
from trainers.sweep_space import point_of

log = logging.getLogger(__name__)


@dataclass
class Trial:
    number: int | None  # None: the preset (the training job the sweep starts from, unchanged)
    job: int | None
    job_status: str
    state: str  # running, complete, pruned, fail; the preset: its job's status
    value: float | None
    params: dict = field(default_factory=dict)  # its point of the space
    differs: dict = field(default_factory=dict)  # the places where it differs from the preset
    reason: str = ""
    attempt_seconds: float = 0.0  # its job's attempts, and its evaluation's (an evolved merge's trial)
    evaluation: int | None = None  # an evolved merge's trial: the evaluate job that scored its model

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class Summary:
    trials: list[Trial]
    preset: Trial | None
    best: Trial | None
    importance: dict[str, float]
    metric: str
    direction: str
    compute_seconds: float  # every trial's attempts, the preset's excluded

    @property
    def gain(self) -> float | None:
        """How much better the best trial is than the preset, in the metric's units (positive: better)."""
        if self.best is None or self.preset is None or self.preset.value is None:
            return None
        diff = self.best.value - self.preset.value
        return -diff if self.direction == "minimize" else diff

    def as_json(self) -> dict:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "best": self.best.as_json() if self.best else None,
            "preset": self.preset.as_json() if self.preset else None,
            "gain_over_preset": self.gain,
            "importance": self.importance,
            "compute_seconds": self.compute_seconds,
            "trials": [t.as_json() for t in self.trials],
        }


def summary(sweep: Job) -> Summary:
    search = sweep.params
    metric, direction = search.get("metric", "eval/loss"), search.get("direction", "minimize")
    jobs = {j.trial_number: j for j in sweep.trials.all()}
    preset_job = jobs.pop(None, None)
    preset = _preset(preset_job, metric) if preset_job else None
    study = _study(sweep)
    frozen = study.get_trials(deepcopy=False) if study else []
    trials = [_trial(t, jobs.get(t.number), preset_job, search) for t in frozen]
    evaluations = [t.evaluation for t in trials if t.evaluation]  # an evolved merge's: its trials' compute
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    pick = min if direction == "minimize" else max
    best = pick(complete, key=lambda t: t.value) if complete else None
    compute = attempt_seconds([j.pk for j in jobs.values()] + evaluations)
    return Summary(trials, preset, best, _importance(study), metric, direction, compute)


def _study(sweep: Job) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=studies.study_name(sweep), storage=studies.storage())
    except KeyError:  # its first pass has not run yet
        return None


def _trial(frozen: optuna.trial.FrozenTrial, job: Job | None, preset: Job | None, search: dict) -> Trial:
    point = point_of(search.get("space") or {}, frozen.params)
    evaluation = merge_trials.evaluation_of(job) if job and job.kind == Job.Kind.MERGE else None
    return Trial(
        number=frozen.number,
        job=job.pk if job else None,
        job_status=job.status if job else "",
        state=frozen.state.name.lower(),
        value=frozen.value if frozen.state == TrialState.COMPLETE else _last(frozen),
        params=point,
        differs={k: v for k, v in point.items() if preset is None or _value_of(preset, k) != v},
        reason=str(frozen.user_attrs.get("reason", "")),
        attempt_seconds=attempt_seconds([job.pk] + ([evaluation.pk] if evaluation else [])) if job else 0.0,
        evaluation=evaluation.pk if evaluation else None,
    )


def _last(frozen: optuna.trial.FrozenTrial) -> float | None:
    """A pruned or running trial's latest reported value."""
    steps = frozen.intermediate_values
    return steps[max(steps)] if steps else None


def _value_of(job: Job, place: str) -> object:
    if job.kind == Job.Kind.MERGE:  # models.<i>.weight, params.<field>
        if place.startswith("models."):
            return merge_trials.weights_of(job).get(place)
        return (job.params.get("params") or {}).get(place.partition(".")[2])
    if place == "method":
        return job.method
    group, _, name = place.partition(".")
    return (job.params.get(group) or {}).get(name)


def _preset(job: Job, metric: str) -> Trial:
    if job.kind == Job.Kind.MERGE:  # an evolved merge's preset: the merge as given, scored by its evaluation
        return _merge_preset(job, metric)
    last = MetricPoint.objects.filter(job=job, name=metric).order_by("-step").first()
    return Trial(
        number=None,
        job=job.pk,
        job_status=job.status,
        state=job.status,
        value=last.value if last and job.status == Job.Status.SUCCEEDED else None,
        reason=job.error,
        attempt_seconds=attempt_seconds([job.pk]),
    )


def _merge_preset(job: Job, metric: str) -> Trial:
    evaluation = merge_trials.evaluation_of(job)
    ended = evaluation if evaluation is not None and job.status == Job.Status.SUCCEEDED else job
    return Trial(
        number=None,
        job=job.pk,
        job_status=job.status,
        state=ended.status,
        value=merge_trials.score(evaluation, metric) if evaluation else None,
        params=merge_trials.weights_of(job),
        reason=ended.error,
        attempt_seconds=attempt_seconds([job.pk] + ([evaluation.pk] if evaluation else [])),
        evaluation=evaluation.pk if evaluation else None,
    )


def _importance(study: optuna.Study | None) -> dict[str, float]:
    """Each parameter's importance to the metric, by Optuna's PED-ANOVA evaluator (no scikit-learn);
    empty until enough trials are complete to tell."""
    if study is None:
        return {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return {}
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
        )
    except (ValueError, RuntimeError) as exc:  # e.g. every trial gave the same value
        log.info("no importance for %s: %s", study.study_name, exc)
        return {}
    return {name: round(float(value), 4) for name, value in found.items()}
