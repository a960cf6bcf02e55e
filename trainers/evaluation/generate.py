"""Greedy generations on a fixed prompt set, so two models can be read side by side.

Greedy decoding makes the outputs repeatable: the same model and prompt give the same text. A
tokenizer with a chat template gets each prompt as one user turn; one without gets the raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt)["input_ids"]


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs = []
    for prompt in prompts:
        ids = torch.tensor([prompt_ids(tokenizer, prompt)], device=device)
        generated = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
        )
        outputs.append(tokenizer.decode(generated[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return outputs
