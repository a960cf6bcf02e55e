"""Finding a transformer's parts by structure, for the methods that freeze and unfreeze them.

Works on decoders (``model.layers``) and encoders (``encoder.layer``) alike: the blocks are the
largest ``nn.ModuleList`` in the model; the head is the output embedding (causal LM) or the
classification head (``score``, ``classifier``) that a sequence classifier adds.
"""

from __future__ import annotations

from typing import Any

from trainers.methods.base import Context, MethodError

CLASSIFIER_HEADS = ("score", "classifier")


def blocks(model: Any) -> tuple[str, list[Any]]:
    """The dotted name of the transformer's block list and its blocks, first to last."""
    import torch

    best: tuple[str, Any] | None = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 0:
            size = sum(p.numel() for p in module.parameters())
            if best is None or size > sum(p.numel() for p in best[1].parameters()):
                best = (name, module)
    if best is None:
        raise MethodError(f"method: {type(model).__name__} has no list of transformer blocks to choose from")
    return best[0], list(best[1])


def head_modules(model: Any, ctx: Context) -> list[Any]:
    """The output layer: a classifier's new head, or a language model's output embedding."""
    if ctx.task_type == "SEQ_CLS":
        found = [m for name, m in model.named_children() if name in CLASSIFIER_HEADS]
        return found
    head = model.get_output_embeddings()
    return [head] if head is not None else []


def embedding_modules(model: Any) -> list[Any]:
    embeddings = model.get_input_embeddings()
    return [embeddings] if embeddings is not None else []


def set_trainable(modules: list[Any], trainable: bool = True) -> None:
    for module in modules:
        for param in module.parameters():
            param.requires_grad_(trainable)


def freeze_all(model: Any) -> None:
    for param in model.parameters():
        param.requires_grad_(False)


def trainable_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
