"""What a quantize method is: its catalogue entry, its parameters and the function that computes
its integers. Importing this module does not import torch.

A method computes its integers one of two ways, and gives exactly one of the two functions:

- ``quantize_tensor`` (round-to-nearest): each checkpoint tensor on its own, while the outputs
  are written, streamed from the files (the model need not be in memory);
- ``quantize_model`` (GPTQ): the loaded model, layer by layer on calibration windows, before
  anything is written; its integers then override what an output would compute itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    import torch

    from trainers.quantize.gptq import GptqResult
    from trainers.quantize.rtn import QuantizedWeight

# (checkpoint tensor [out, in], the method's parameters or None) -> integers and scales
TensorQuantize = Callable[["torch.Tensor", Any], "QuantizedWeight"]
# (loaded model, calibration windows, the method's parameters, on_layer(done, total)) -> result
ModelQuantize = Callable[[Any, list, Any, Callable[[int, int], None]], "GptqResult"]


@dataclass(frozen=True)
class QuantizeMethod:
    name: str
    title: str
    description: str  # one or two lines, for the form and the API
    bits: Literal[4, 8]  # the nominal width (mixed precision: its most common one)
    params: type[BaseModel] | None = None  # the spec's group named after the method; None: takes none
    quantize_tensor: TensorQuantize | None = None
    quantize_model: ModelQuantize | None = None
    paper: str = ""  # the method's paper, for the catalogue
    # Plans its GGUF outputs' per-tensor types itself, so quantize_model also takes ``outputs=`` (the
    # spec's output names) and its integers need not sit on Q4_0's grid.
    wants_outputs: bool = False
    compressed_tensors: bool = False  # can write the compressed-tensors output (uniform int4 groups)
    # (parameters, {weight name: (out, in)}, outputs) -> None or SpecError: checks that need the shapes
    check: Callable[[Any, dict[str, tuple[int, int]], list[str]], None] | None = None

    def __post_init__(self) -> None:
        if (self.quantize_tensor is None) == (self.quantize_model is None):
            raise ValueError(f"quantize method {self.name}: give one of quantize_tensor or quantize_model")

    @property
    def calibrated(self) -> bool:
        """Whether it measures the model on calibration text (and so takes a calibration dataset)."""
        return self.quantize_model is not None
