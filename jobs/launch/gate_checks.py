"""The launch checks of a promotion gate (``params.gate``, jobs/gates.py) on a training or merge job:
a gate that parses (known metric, bounded thresholds, a rule), and data it can be measured on."""

from __future__ import annotations

from pydantic import ValidationError

from jobs import gates
from jobs.launch.types import LaunchRequest, Problem, pydantic_problems
from jobs.models import ModelAsset


def train_gate_problems(request: LaunchRequest, base: ModelAsset | None) -> list[Problem]:
    """``params.gate``: known metrics, bounded thresholds, and data it can be measured on."""
    given = request.params.get(gates.GATE)
    if given is None:
        return []
    gate = gate_spec(given)
    if isinstance(gate, list):
        return gate
    return [Problem((gates.GATE, field), message)
            for field, message in gates.launch_problems(gate, base, request.dataset("validation"))]


def gate_spec(given: object) -> gates.GateSpec | list[Problem]:
    """``params.gate`` parsed, or its problems at their paths."""
    if not isinstance(given, dict):
        return [Problem((gates.GATE,), "must be an object: metric, min_gain, max_retention_drop")]
    try:
        return gates.GateSpec.model_validate(given)
    except ValidationError as exc:
        return pydantic_problems(exc, (gates.GATE,))


def merge_gate_problems(request: LaunchRequest) -> list[Problem]:
    """A merge's ``params.gate``: as a training job's, measured against its base (else first) model."""
    golden = request.dataset(gates.GOLDEN_ROLE)
    if request.params.get(gates.GATE) is None:
        return [] if golden is None else [Problem(("golden",), "a golden dataset is read by a gate "
                                                  "(params.gate) only; give one, or remove golden_dataset")]
    gate = gate_spec(request.params[gates.GATE])
    if isinstance(gate, list):
        return gate
    reference = request.model("base") or next((m.model for m in request.models if m.role == "model"), None)
    return [Problem((gates.GATE, field), message)
            for field, message in gates.merge_launch_problems(gate, reference, golden)]
