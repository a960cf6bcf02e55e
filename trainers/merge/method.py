"""What a merge method is: its catalogue entry, its parameters and the function that does the work.

Variants (DARE linear / DARE TIES, Breadcrumbs / Breadcrumbs TIES) are configured instances of
``MergeMethod`` around one function, never subclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from trainers.merge.params import MethodParams

if TYPE_CHECKING:
    import torch

    from trainers.merge.engine import MergeJob

# tensors[i] reads input i's copy of the tensor from disk (float32, owned by the caller: it may be
# changed in place); each index is read once. base is the base model's copy, or None.
TensorMerge = Callable[
    ["Sequence[torch.Tensor]", "torch.Tensor | None", list[float], Any, "torch.Generator"], "torch.Tensor"
]
# How a method uses models[i].weight, for the checks made before any work:
#   proportions: mixing proportions, >= 0 (summing to 1 unless normalize is on)
#   signed: scales of each model's changes; negative subtracts, not all zero
#   none: the method takes no per-model weights
WeightUse = Literal["proportions", "signed", "none"]


@dataclass(frozen=True)
class MergeMethod:
    name: str
    title: str
    help: str  # one line, for the form and the API
    paper: str  # a link to where the method is described
    params: type[MethodParams]
    min_models: int
    max_models: int | None = None
    needs_base: bool = False
    uses_base: bool = False  # takes a base when one is given (e.g. NuSLERP: interpolate task vectors)
    weights: WeightUse = "proportions"
    inputs: Literal["models", "adapters"] = "models"
    output: Literal["model", "adapter"] = "model"
    merge_tensor: TensorMerge | None = None  # tensor-wise methods: called once per tensor
    run: Callable[[MergeJob], None] | None = None  # methods that need the whole job at once
    preflight: Callable[[MergeJob], Any] | None = None  # more checks before any work; result in job.prepared
    steps: Callable[[MergeJob], int] | None = None  # progress steps, where not one per output tensor

    def progress_steps(self, job: MergeJob) -> int:
        if self.steps is not None:
            return self.steps(job)
        return job.tensor_count() if self.output == "model" else 1

    def __post_init__(self) -> None:
        if (self.merge_tensor is None) == (self.run is None):
            raise ValueError(f"merge method {self.name}: give exactly one of merge_tensor or run")

    def describe(self) -> dict[str, Any]:
        """The catalogue entry: what the platform needs to build the form and the API."""
        return {
            "name": self.name,
            "title": self.title,
            "help": self.help,
            "paper": self.paper,
            "min_models": self.min_models,
            "max_models": self.max_models,
            "needs_base": self.needs_base,
            "uses_base": self.uses_base or self.needs_base,
            "weights": self.weights,
            "inputs": self.inputs,
            "output": self.output,
            "params_schema": self.params.model_json_schema(),
        }
