"""Packing and batching: attention stays inside each example, budgets hold, nothing is lost."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from trainers.examples import IGNORE_INDEX, PadCollator
from trainers.packing import (
    BatchCollator,
    Batching,
    batch_tokens,
    check_packing_fits,
    make_batches,
    pack_rows,
)
from trainers.spec import SpecError, TrainingParams


def _examples(n: int, seed: int = 0, vocab: int = 100) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(3, 40)
        ids = [rng.randrange(3, vocab) for _ in range(length)]
        prompt = rng.randint(1, length - 1)
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return out


def _how(**changes) -> Batching:
    base = dict(batch_size=4, max_batch_tokens=None, packing=False, group_by_length=False, row_length=64)
    base["seed"] = 1
    return Batching(**(base | changes))


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_a_packed_example_has_the_logits_and_loss_it_has_alone(tiny_model_dir: Path, attn: str) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn).eval()
    examples = _examples(5, seed=3, vocab=model.config.vocab_size)
    batch = BatchCollator(0, packing=True)([{"rows": [examples[:3], examples[3:]]}])  # (2, W)
    assert batch["input_ids"].shape[0] == 2 and "attention_mask" not in batch
    model.train()  # as in training: Llama still builds a KV cache unless told not to
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        at = 0
        for example in examples[:3]:
            n = len(example["input_ids"])
            alone = model(input_ids=torch.tensor([example["input_ids"]])).logits[0]
            torch.testing.assert_close(packed[0, at : at + n], alone, rtol=1e-4, atol=1e-5)
            at += n
        # The loss over the packed batch is the token-weighted loss of the examples one by one.
        loss_packed = model(**batch).loss
        padded = PadCollator(0)(examples)
        loss_padded = model(**padded).loss
    torch.testing.assert_close(loss_packed, loss_padded, rtol=1e-4, atol=1e-5)


def test_without_the_position_resets_attention_would_leak(tiny_model_dir: Path) -> None:
    """The check above can fail: plain positions, or a KV cache (Llama's default), leak attention."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").train()
    examples = _examples(2, seed=5, vocab=model.config.vocab_size)
    batch = BatchCollator(0, packing=True)([{"rows": [examples]}])
    n0 = len(examples[0]["input_ids"])
    with torch.no_grad():
        ids, positions = batch["input_ids"], batch["position_ids"]
        kept = model(input_ids=ids, position_ids=positions, use_cache=False).logits[0, n0:]
        no_resets = model(input_ids=ids, use_cache=False).logits[0, n0:]
        with_cache = model(input_ids=ids, position_ids=positions).logits[0, n0:]
    assert not torch.allclose(no_resets, kept, atol=1e-3)
    assert not torch.allclose(with_cache, kept, atol=1e-3)


def test_no_label_crosses_an_example_boundary() -> None:
    examples = [{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]
    batch = BatchCollator(0, packing=True)([{"rows": [examples, examples[1:]]}])
    assert batch["labels"].tolist() == [[-100, 6, 7, -100, 9], [-100, 9, -100, -100, -100]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 0, 1, 2]]


@pytest.mark.parametrize("packing", [True, False])
@pytest.mark.parametrize("grouped", [True, False])
def test_token_budget_batches_respect_the_budget_and_keep_every_example(packing: bool, grouped: bool) -> None:
    examples = _examples(300)
    how = _how(max_batch_tokens=128, packing=packing, group_by_length=grouped)
    batches = make_batches(examples, how)
    for batch in batches:
        processed, real = batch_tokens(batch)
        assert processed <= 128 and real <= processed
        assert all(sum(len(e["input_ids"]) for e in row) <= how.row_length for row in batch["rows"])
    seen = sorted(id(e) for b in batches for row in b["rows"] for e in row)
    assert seen == sorted(id(e) for e in examples)
    assert make_batches(examples, how) == batches  # the same seed, the same batches (resume relies on it)


def test_budget_batches_hold_more_short_rows_and_waste_less_than_fixed_size() -> None:
    examples = _examples(400)
    fixed = make_batches(examples, _how(batch_size=4))
    budget = make_batches(examples, _how(max_batch_tokens=256, packing=True))
    waste = lambda bs: 1 - sum(batch_tokens(b)[1] for b in bs) / sum(batch_tokens(b)[0] for b in bs)  # noqa: E731
    assert len(budget) < len(fixed) / 2
    assert waste(budget) < 0.1 < waste(fixed)


def test_group_by_length_puts_similar_lengths_together() -> None:
    examples = _examples(400)
    spread = lambda bs: sum(  # noqa: E731
        max(len(r[0]["input_ids"]) for r in b["rows"]) - min(len(r[0]["input_ids"]) for r in b["rows"])
        for b in bs
    )
    grouped, ungrouped = make_batches(examples, _how(group_by_length=True)), make_batches(examples, _how())
    assert spread(grouped) < spread(ungrouped) / 3


def test_best_fit_fills_rows() -> None:
    lengths = [60, 50, 30, 14, 10, 4, 4]
    rows = pack_rows(range(len(lengths)), lengths, 64)
    assert sorted(sorted(row) for row in rows) == [[0, 5], [1, 3], [2, 4, 6]]


def test_packing_is_refused_for_prompt_tuning_whose_virtual_tokens_rows_would_share(
    tiny_model_dir: Path,
) -> None:
    from peft import LoraConfig, PromptTuningConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = get_peft_model(base, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    with pytest.raises(SpecError, match="training.packing: prompt and prefix tuning"):
        check_packing_fits(prompt, TrainingParams(packing=True))
    check_packing_fits(prompt, TrainingParams(packing=False, max_batch_tokens=512))
    lora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(task_type="CAUSAL_LM")
    )
    check_packing_fits(lora, TrainingParams(packing=True))
