"""The sweep job spec (kind "sweep"): a training job to vary, what to vary in it, and the budget.

A sweep runs no trainer of its own. The platform drives it (``jobs/sweeps/``): it asks Optuna for
trials, launches each as an ordinary training job, reports their eval metrics back and prunes the
losing ones through the normal cancel path. This spec is what the launch path validates before the
sweep is created: ``trial`` is a complete training spec (every trial starts from it), and the space
is checked against the catalogue's own parameter models (``trainers.sweep_space``).

An evolved merge is the same sweep with ``trial_kind: "merge"``: ``trial`` is a complete merge spec,
the space varies its models' weights and its method's parameters (``trainers.merge_space``), and each
trial's metric is read from an evaluate job of the merged model on the user's evaluation data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from trainers.spec import SPEC_VERSION, EventsSink, SpecError, TrainSpec, _Strict
from trainers.spec_merge import MergeSpec

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "successive_halving", "hyperband", "none")


class Budget(_Strict):
    trials: int = Field(12, ge=1, le=500, description="How many trials to run in all.")
    parallel: int = Field(2, ge=1, le=64, description="Trials at once (never above the team's quota).")
    max_minutes: float | None = Field(
        None, gt=0, le=60 * 24 * 30, description="Wall clock: start no trial after this many minutes."
    )
    gpu_hours: float | None = Field(
        None, gt=0, le=100_000, description="GPU-hours the trials may use in all; none started beyond it."
    )


class SweepSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["sweep"] = "sweep"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    output_dir: str = Field(min_length=1)
    events: EventsSink = EventsSink()
    trial_kind: Literal["train", "merge"] = Field(
        "train", description="What a trial is: a training job, or a merge job scored by an evaluate job."
    )
    trial: Annotated[TrainSpec | MergeSpec, Field(discriminator="kind")] = Field(
        description="The job every trial starts from: a training job, or a merge (an evolved merge)."
    )
    space: dict[str, Any] = Field(min_length=1, description="Parameter place → choices or range.")
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "successive_halving", "hyperband", "none"] = "median"
    warmup_evals: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Evaluations of each trial the median pruner never stops at; none: half the "
        "evaluations a run makes (an early loser often wins by the end).",
    )
    metric: str = Field("eval/loss", pattern=r"^eval/[\w.-]+$", description="The eval metric to optimise.")
    direction: Literal["minimize", "maximize"] = "minimize"
    budget: Budget = Budget()
    seed: int = Field(0, ge=0, le=2**31 - 1)
    compare_preset: bool = Field(True, description="Also run the training job unchanged, to compare with.")

    @field_validator("space")
    @classmethod
    def _space_fits_the_catalogue(cls, space: dict[str, Any]) -> dict[str, Any]:
        from trainers.sweep_space import dimension

        for raw in space.values():
            dimension(raw)  # the places were checked by the launch path (jobs/launch/rules.py)
        return space

    @model_validator(mode="after")
    def _trial_of_its_kind(self) -> SweepSpec:
        if self.trial.kind != self.trial_kind:
            raise ValueError(f"trial: a {self.trial_kind} sweep's trial is a {self.trial_kind} job")
        return self

    @model_validator(mode="after")
    def _grid_needs_choices(self) -> SweepSpec:
        if self.sampler == "grid":
            ranged = [name for name, raw in self.space.items() if "choices" not in raw]
            if ranged:
                raise ValueError(
                    f"space: the grid sampler takes choices only; {', '.join(ranged)} is a range"
                )
        return self


def default_direction(metric: str) -> str:
    """Losses go down; accuracy, F1 and the like go up."""
    return "minimize" if metric.rsplit("/", 1)[-1].endswith(("loss", "perplexity")) else "maximize"


def refuse_to_run(spec: SweepSpec, emitter: object) -> None:
    """A sweep has no trainer process: the platform runs its trials as training jobs."""
    raise SpecError("a sweep runs no trainer: the platform starts its trials as training jobs")
