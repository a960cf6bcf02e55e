"""Parameter pieces the merge methods share: each method's own model composes these.

Every field carries a type, a range, a default and a one-line help, so the platform can build a
form and the API schema from ``model_json_schema()``. Range errors say what to give instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError


class MethodParams(BaseModel):
    """Base for a method's parameters: unknown names are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _density_in_range(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise PydanticCustomError(
            "density_range",
            "density is the share of each model's changes to keep and must be in (0, 1], got {value}; "
            "use 1 to keep every change or e.g. 0.5 to keep half",
            {"value": value},
        )
    return value


def density_field(default: float, help_text: str) -> Any:
    return Field(default, description=help_text, json_schema_extra={"exclusiveMinimum": 0, "maximum": 1})


Density = Annotated[float, AfterValidator(_density_in_range)]

SCALING_HELP = (
    "λ: multiplies the combined changes before they are added to the base (1 keeps them as they are)."
)
NORMALIZE_HELP = "Divide the combined changes by the sum of the weights, so weights act as proportions."
SEED_HELP = "Seeds the random drop, so the same spec gives the same model."


def scaling_field(default: float = 1.0) -> Any:
    return Field(default, ge=-10.0, le=10.0, description=SCALING_HELP)
