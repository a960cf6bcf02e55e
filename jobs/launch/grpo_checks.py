"""The launch checks of a job that samples answers and scores them (grpo, rejection_sampling,
refusal_aware) that read its dataset (no weights): every chosen reward must be able to score every
answer (math needs numbers, multiple choice an option letter), and every prompt with the completion
budget must fit ``training.max_seq_length``, counted with the base model's tokenizer as TRL renders
the prompt. The trainer runs the same check (``trainers.objectives.grpo``).
"""

from __future__ import annotations

from pathlib import Path

from jobs.data import preview
from jobs.launch.types import LaunchRefused, Problem
from jobs.models import Job
from trainers.formats import UNITS, location
from trainers.objectives import grpo_data
from trainers.objectives.params import OBJECTIVE_PARAMS

# Their groups have rewards and max_completion_length.
SAMPLING_OBJECTIVES = ("grpo", "rejection_sampling", "refusal_aware")
# Rows read at launch; a larger file's later rows are left to the trainer's own check, which reads all.
LAUNCH_ROWS = 10_000


def check_grpo_rows(job: Job, spec: dict) -> None:
    """LaunchRefused at the reward (``grpo.rewards.<i>``) or at ``dataset``, naming the row and field."""
    objective, ds = spec["objective"], spec["dataset"]
    params = OBJECTIVE_PARAMS[objective].model_validate(spec.get(objective) or {})
    dataset = job.inputs.get(role="dataset").dataset
    try:
        tokenizer = preview.load_tokenizer(job.inputs.get(role="base").model)
    except preview.PreviewUnavailable:
        tokenizer = None  # no tokenizer on this server: the trainer counts the prompts
    found = grpo_data.problems(
        Path(ds["path"]), ds["format"], ds["task"], params.rewards, tokenizer=tokenizer,
        budget=(spec["training"]["max_seq_length"], params.max_completion_length),
        filename=dataset.name, limit=LAUNCH_ROWS, group=objective,
    )  # fmt: skip
    if not found:
        return
    unit = UNITS[ds["format"]]
    raise LaunchRefused([
        Problem(
            (objective, "rewards", p.reward) if p.reward is not None else ("dataset",),
            f"{dataset.name}, {location(unit, p.number, p.field)}: {p.message}",
        )
        for p in found
    ])  # fmt: skip
