"""Every training method Hone offers, in one explicit dict, and the functions the trainer calls.

Adding a method is one file with its ``TrainMethod`` and one entry here; the spec validates
against it, ``python -m trainers methods --json`` prints it, and the web form and the API build
their fields from it (through ``trainers.catalogue``). Importing this package does not import
torch or peft; a method imports them only when it prepares a model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ValidationError

from trainers.lookup import lookup
from trainers.methods import (
    adalora,
    bitfit,
    fourierft,
    freeze,
    full,
    galore,
    hft,
    ia3,
    lisa,
    ln_tuning,
    lora,
    loraplus,
    lycoris,
    mezo,
    miss,
    orthogonal,
    prefix_tuning,
    prompt_tuning,
    qlora,
    spiel,
    vera,
)
from trainers.methods.base import Context, MethodError, Prepared, TrainMethod
from trainers.spec import SpecError

METHODS: dict[str, TrainMethod] = {
    method.name: method
    for method in (
        lora.METHOD,
        loraplus.METHOD,
        qlora.METHOD,
        adalora.METHOD,
        lycoris.LOKR,
        lycoris.LOHA,
        vera.METHOD,
        ia3.METHOD,
        orthogonal.OFT,
        orthogonal.BOFT,
        fourierft.METHOD,
        miss.METHOD,
        ln_tuning.METHOD,
        prompt_tuning.METHOD,
        prefix_tuning.METHOD,
        full.METHOD,
        freeze.METHOD,
        lisa.METHOD,
        mezo.METHOD,
        galore.METHOD,
        spiel.METHOD,
        hft.METHOD,
        bitfit.METHOD,
    )
}

__all__ = [
    "METHODS", "Context", "MethodError", "Prepared", "TrainMethod", "UnknownMethod", "apply_method", "get"
]


class UnknownMethod(SpecError):
    pass


def known() -> str:
    return ", ".join(METHODS)


def get(name: str) -> TrainMethod:
    return lookup(METHODS, name, UnknownMethod, "method")


def validated_params(name: str | None, raw: dict[str, Any]) -> dict[str, Any]:
    """``method_params`` checked against the method's schema, with its defaults filled in.

    Raises ValueError naming each bad field (``lr_ratio: Input should be ...``). With no known
    method (its own error is reported already) the parameters come back unchecked."""
    if name not in METHODS:
        return raw
    try:
        params = METHODS[name].validate_params(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'method_params'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ValueError(f"{problems} (parameters of {name})") from None
    return params.model_dump(mode="json") if params is not None else {}


def check_combination(spec: Any) -> None:
    """Refuse an objective the method cannot train (e.g. prompt tuning for classification)."""
    method = get(spec.method)
    objective = getattr(spec, "objective", "sft")
    if objective not in method.objectives:
        fitting = [m.name for m in METHODS.values() if objective in m.objectives]
        raise ValueError(
            f"method: {method.title} does not train the {objective} objective (it trains "
            f"{', '.join(method.objectives)}); for {objective} pick one of {', '.join(fitting)}"
        )


def params_of(spec: Any) -> BaseModel | None:
    method = get(spec.method)
    return method.validate_params(spec.method_params)


def load_options(spec: Any) -> dict:
    """Extra ``from_pretrained`` arguments for the method (QLoRA: 4-bit); refuses a machine it can't use."""
    method = get(spec.method)
    return method.load_options(params_of(spec)) if method.load_options else {}


def apply_method(model: Any, spec: Any, ctx: Context) -> Prepared:
    """Prepare ``model`` for training with the spec's method; ``ctx`` says what the run knows."""
    method = get(spec.method)
    ctx = dataclasses.replace(ctx, lora=spec.lora, seed=spec.training.seed)
    return method.apply(model, params_of(spec), ctx)


def card_params(spec: Any) -> dict[str, Any]:
    """Every parameter the method used (its ``lora`` group and ``method_params``), for the model card."""
    method = get(spec.method)
    lora = spec.lora.model_dump() if method.uses_lora_group else {}
    return {**lora, **spec.method_params}


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters, for peft models and plain ones alike."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
