"""What a launch asks for and how it is refused: the types of the one launch path (``jobs.launch``).

A problem's place (``loc``) is in the trainer's spec vocabulary — ``("training", "learning_rate")``,
``("base_model",)``, ``("models", 1)`` — which each door turns into its own field names
(``jobs.launch.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from jobs.models import ComputeProfile, Dataset, Job, ModelAsset, Team

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ModelInput:
    role: str  # JobInput.Role: base, model, candidate
    model: ModelAsset
    weight: float | None = None


@dataclass(frozen=True)
class DatasetInput:
    role: str  # JobInput.Role: dataset, calibration
    dataset: Dataset


@dataclass(frozen=True)
class LaunchRequest:
    """A job to create. ``params`` are as the job keeps them: a training job's parameter groups
    (``{"lora": …, "training": …, "dpo": …}``), or a merge / quantize / evaluate job's body."""

    kind: str
    team: Team
    user: object  # the user who asked (None for system-made jobs)
    name: str
    method: str = ""
    objective: str = ""  # training jobs: what to learn; "" is sft
    params: dict = field(default_factory=dict)
    models: tuple[ModelInput, ...] = ()
    datasets: tuple[DatasetInput, ...] = ()
    profile: ComputeProfile | None = None
    parent: Job | None = None  # a sweep's trial: its sweep (jobs/sweeps/)
    trial_number: int | None = None

    @classmethod
    def of(
        cls,
        kind: str,
        *,
        models: list[tuple[str, ModelAsset, float | None]] = (),
        datasets: list[tuple[str, Dataset]] = (),
        **fields,
    ) -> LaunchRequest:
        """A request with its inputs given as (role, model, weight) and (role, dataset) pairs."""
        return cls(
            kind=kind,
            models=tuple(ModelInput(role, model, weight) for role, model, weight in models),
            datasets=tuple(DatasetInput(role, dataset) for role, dataset in datasets),
            **fields,
        )

    def model(self, role: str) -> ModelAsset | None:
        return next((m.model for m in self.models if m.role == role), None)

    def dataset(self, role: str) -> Dataset | None:
        return next((d.dataset for d in self.datasets if d.role == role), None)


@dataclass(frozen=True)
class Problem:
    loc: Loc  # where in the request; () for the request as a whole
    message: str

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.message}" if where else self.message


class LaunchRefused(ValueError):
    """The job cannot run as asked. ``problems`` says what and where; str() is one line of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems or [Problem((), "the job was refused")]
        super().__init__("; ".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, loc: Loc, message: str) -> LaunchRefused:
        return cls([Problem(loc, message)])


def pydantic_problems(exc: ValidationError, at: Loc = ()) -> list[Problem]:
    """Each error of a pydantic model validated at ``at``, at its own place below it."""
    return [Problem((*at, *e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
