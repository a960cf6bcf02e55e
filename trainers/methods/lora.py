"""LoRA (Hu et al. 2021) and its options: rsLoRA scaling, DoRA, and PiSSA / OLoRA / EVA initialisation.

The parameters are the spec's ``lora`` group (``trainers.spec.LoraParams``), shared by the
LoRA family (LoRA+, QLoRA). PiSSA and OLoRA start the adapter from the base weights' principal
directions and subtract that from the base; to give an adapter that loads on the *original*
base in plain peft, the initial adapter is kept and the final one converted at save time
(peft's ``path_initial_model_for_weight_conversion``). EVA looks at a few batches of training
data first (peft's ``initialize_lora_eva_weights``).
"""

from __future__ import annotations

from typing import Any

from trainers.methods.base import Context, MethodError, Prepared, TrainMethod, wrap_peft
from trainers.spec import LoraParams

EVA_BATCHES = 8  # batches EVA's incremental SVD cycles over until its components settle
INIT_WEIGHTS: dict[str, bool | str] = {
    "default": True,
    "gaussian": "gaussian",
    "pissa": "pissa",
    "olora": "olora",
    "eva": "eva",
}


def lora_config(lora: LoraParams, ctx: Context) -> Any:
    from peft import EvaConfig, LoraConfig

    return LoraConfig(
        task_type=ctx.task_type,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        use_rslora=lora.use_rslora,
        use_dora=lora.use_dora,
        init_lora_weights=INIT_WEIGHTS[lora.init],
        eva_config=EvaConfig() if lora.init == "eva" else None,
    )


def attach_lora(model: Any, lora: LoraParams, ctx: Context) -> Prepared:
    """The base model with a LoRA adapter, initialised as ``lora.init`` says."""
    peft_model = wrap_peft(model, lora_config(lora, ctx), "lora")
    save_kwargs: dict = {}
    if lora.init in ("pissa", "olora"):
        save_kwargs["path_initial_model_for_weight_conversion"] = str(_save_initial(peft_model, ctx))
    elif lora.init == "eva":
        _initialise_eva(peft_model, ctx)
    return Prepared(peft_model, save_kwargs=save_kwargs)


def _save_initial(peft_model: Any, ctx: Context) -> Any:
    if ctx.work_dir is None:
        raise MethodError("lora.init: PiSSA and OLoRA need a work directory to keep the initial adapter")
    initial = ctx.work_dir / "initial-adapter"
    config = peft_model.peft_config["default"]
    config.init_lora_weights = True  # the saved initial adapter loads as a plain LoRA
    peft_model.save_pretrained(initial, safe_serialization=True)
    return initial


def _initialise_eva(peft_model: Any, ctx: Context) -> None:
    from peft import initialize_lora_eva_weights

    if ctx.batches is None:
        raise MethodError("lora.init: EVA needs training data to initialise from")
    batches = list(ctx.batches())[:EVA_BATCHES]
    if not batches:
        raise MethodError("lora.init: EVA needs at least one batch of training data")
    try:
        initialize_lora_eva_weights(peft_model, dataloader=batches, show_progress_bar=False)
    except ValueError as exc:  # e.g. fewer tokens in a batch than the rank needs
        raise MethodError(f"lora.init: EVA could not initialise from the data: {exc}") from exc


def apply_lora(model: Any, params: None, ctx: Context) -> Prepared:
    return attach_lora(model, ctx.lora or LoraParams(), ctx)


METHOD = TrainMethod(
    name="lora",
    title="LoRA",
    description="Trains a small low-rank adapter on a frozen base; options for rsLoRA, DoRA and "
    "PiSSA / OLoRA / EVA initialisation. The result is a peft adapter.",
    paper="https://arxiv.org/abs/2106.09685",
    apply=apply_lora,
    uses_lora_group=True,
)
