"""Prompt tuning (Lester et al. 2021): learned virtual tokens prepended to every input.

The model itself stays frozen.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from trainers.methods.base import (
    CAUSAL_LM_GENERATION,
    Context,
    MethodError,
    MethodParams,
    Prepared,
    TrainMethod,
    wrap_peft,
)


class PromptTuningParams(MethodParams):
    num_virtual_tokens: int = Field(
        20, ge=1, le=512, description="How many learned tokens go before each input."
    )
    init: Literal["text", "random"] = Field(
        "text", description="Start the tokens from the embedding of init_text, or at random."
    )
    init_text: str = Field(
        "Follow the instruction and answer.",
        min_length=1,
        max_length=500,
        description="Text whose token embeddings start the virtual tokens (with init 'text').",
    )


def apply_prompt_tuning(model: Any, params: PromptTuningParams, ctx: Context) -> Prepared:
    from peft import PromptTuningConfig, PromptTuningInit

    text_init = params.init == "text"
    if text_init and not ctx.model_source:
        raise MethodError("method_params.init: text init needs the base model's tokenizer; use init 'random'")
    config = PromptTuningConfig(
        task_type=ctx.task_type,
        num_virtual_tokens=params.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.TEXT if text_init else PromptTuningInit.RANDOM,
        prompt_tuning_init_text=params.init_text if text_init else None,
        tokenizer_name_or_path=ctx.model_source if text_init else None,
    )
    return Prepared(wrap_peft(model, config, "method_params"))


METHOD = TrainMethod(
    name="prompt_tuning",
    title="Prompt tuning",
    description="Learns a few virtual tokens put before every input; the model itself is untouched. "
    "Needs a high learning rate (~1e-2 to 3e-1).",
    paper="https://arxiv.org/abs/2104.08691",
    apply=apply_prompt_tuning,
    method_params=PromptTuningParams,
    objectives=CAUSAL_LM_GENERATION,
)
