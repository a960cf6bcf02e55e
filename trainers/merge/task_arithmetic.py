"""Task arithmetic: add the models' task vectors (fine-tune minus base), weighted, to the base.

A negative weight subtracts a model's behaviour ("negation"). See taskvec.py for the arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from trainers.merge.method import MergeMethod
from trainers.merge.params import NORMALIZE_HELP, MethodParams, scaling_field
from trainers.merge.taskvec import combine_task_vectors

if TYPE_CHECKING:
    import torch


class TaskArithmeticParams(MethodParams):
    scaling: float = scaling_field()
    normalize: bool = Field(False, description=NORMALIZE_HELP)


def merge_task_arithmetic(
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor,
    weights: list[float],
    params: TaskArithmeticParams,
    rng: torch.Generator,
) -> torch.Tensor:
    return combine_task_vectors(
        tensors,
        base,
        weights,
        sparsify=None,
        consensus=False,
        normalize=params.normalize,
        scaling=params.scaling,
        rng=rng,
    )


METHOD = MergeMethod(
    name="task_arithmetic",
    title="Task arithmetic",
    help="Adds each model's changes from the base, scaled by its weight; a negative weight removes a skill.",
    paper="https://arxiv.org/abs/2212.04089",
    params=TaskArithmeticParams,
    min_models=1,
    needs_base=True,
    weights="signed",
    merge_tensor=merge_task_arithmetic,
)
