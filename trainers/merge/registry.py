"""Every merge method Hone offers, in one explicit dict. Importing this module does not import torch.

``catalogue()`` is what the platform builds the merge form and the API from.
"""

from __future__ import annotations

from typing import Any

from trainers.lookup import lookup
from trainers.merge import (
    adapter_combine,
    breadcrumbs,
    dare,
    della,
    greedy_soup,
    karcher,
    linear,
    lora_extract,
    lora_fold,
    model_stock,
    nuslerp,
    pcb,
    sce,
    slerp,
    task_arithmetic,
    ties,
)
from trainers.merge.method import MergeMethod
from trainers.spec import SpecError

METHODS: dict[str, MergeMethod] = {
    method.name: method
    for method in (
        linear.METHOD,
        greedy_soup.METHOD,
        task_arithmetic.METHOD,
        ties.METHOD,
        dare.DARE_LINEAR,
        dare.DARE_TIES,
        breadcrumbs.BREADCRUMBS,
        breadcrumbs.BREADCRUMBS_TIES,
        della.DELLA,
        della.DELLA_LINEAR,
        sce.METHOD,
        pcb.METHOD,
        model_stock.METHOD,
        slerp.METHOD,
        nuslerp.METHOD,
        karcher.METHOD,
        lora_fold.METHOD,
        lora_extract.METHOD,
        adapter_combine.METHOD,
    )
}


class UnknownMethod(SpecError):
    pass


def known() -> str:
    return ", ".join(METHODS)


def get(name: str) -> MergeMethod:
    return lookup(METHODS, name, UnknownMethod, "merge method")


def catalogue() -> list[dict[str, Any]]:
    """One entry per method: name, title, help, paper, min/max models, needs_base, weights, inputs,
    output and the JSON schema of its parameters."""
    return [method.describe() for method in METHODS.values()]
