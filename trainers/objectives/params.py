"""The objectives' names, tasks, titles and parameter groups as the platform imports them.

Everything here is derived from the registry (``trainers.objectives.registry``); this module only
keeps the import path that forms, serializers and presets use.
"""

from trainers.objectives.base import ObjectiveParams
from trainers.objectives.preference_params import DpoParams, KtoParams, OrpoParams, SimpoParams
from trainers.objectives.registry import (
    OBJECTIVE_PARAMS,
    OBJECTIVE_TASKS,
    OBJECTIVE_TITLES,
    PREFERENCE_OBJECTIVES,
    either,
    objective_problem,
)
from trainers.objectives.registry import ObjectiveName as Objective

__all__ = [
    "OBJECTIVE_PARAMS",
    "OBJECTIVE_TASKS",
    "OBJECTIVE_TITLES",
    "PREFERENCE_OBJECTIVES",
    "DpoParams",
    "KtoParams",
    "Objective",
    "ObjectiveParams",
    "OrpoParams",
    "SimpoParams",
    "either",
    "objective_problem",
]
