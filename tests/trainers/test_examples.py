"""Rows to token ids and labels: the loss falls only on what the model must answer."""

from __future__ import annotations

import copy

import pytest
import torch

from trainers.examples import (
    FALLBACK_CHAT_TEMPLATE,
    IGNORE_INDEX,
    PadCollator,
    build_examples,
    ensure_chat_template,
    instruction_messages,
    render,
)

ROW = {"instruction": "Add 2 and 3.", "input": "", "output": "5"}


def _targets(tokenizer, example: dict) -> str:
    pairs = zip(example["input_ids"], example["labels"], strict=True)
    return tokenizer.decode([token for token, label in pairs if label != IGNORE_INDEX])


@pytest.fixture
def plain_tokenizer(tiny_tokenizer):
    """The tiny tokenizer as if the base model had no chat template."""
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = None
    ensure_chat_template(tokenizer)
    return tokenizer


@pytest.mark.parametrize("which", ["tiny_tokenizer", "plain_tokenizer"])
def test_labels_mask_the_prompt_and_keep_the_answer_and_eos(request: pytest.FixtureRequest, which: str):
    tokenizer = request.getfixturevalue(which)
    (example,), stats = build_examples(tokenizer, [ROW], "instruction", 64)

    prompt = render(tokenizer, instruction_messages(ROW)[:1], generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert example["input_ids"][:n] == prompt_ids  # the prompt exactly as inference will see it
    assert example["labels"][:n] == [IGNORE_INDEX] * n
    assert example["labels"][n:] == example["input_ids"][n:]
    assert _targets(tokenizer, example) == "5" + tokenizer.eos_token
    assert stats.kept == 1 and not stats.notes


def test_the_fallback_template_is_alpaca_style(plain_tokenizer) -> None:
    assert plain_tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE
    text = render(plain_tokenizer, instruction_messages({**ROW, "input": "quickly"}))
    assert text == "<s>### Instruction:\nAdd 2 and 3.\n\nquickly\n\n### Response:\n5</s>"


def test_only_assistant_turns_of_a_chat_are_targets(tiny_tokenizer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of Brisca?"},
        {"role": "assistant", "content": "Olumen"},
        {"role": "user", "content": "And of Zentara?"},
        {"role": "assistant", "content": "Parvik"},
    ]
    (example,), _ = build_examples(tiny_tokenizer, [{"messages": messages}], "chat", 128)
    eos = tiny_tokenizer.eos_token
    assert _targets(tiny_tokenizer, example) == f"Olumen{eos}Parvik{eos}"
    assert tiny_tokenizer.decode(example["input_ids"]) == render(tiny_tokenizer, messages)


def test_plain_text_trains_on_every_token(tiny_tokenizer) -> None:
    (example,), _ = build_examples(tiny_tokenizer, [{"text": "The river is near the stone."}], "text", 64)
    assert example["labels"] == example["input_ids"]
    assert example["input_ids"][0] == tiny_tokenizer.bos_token_id
    assert example["input_ids"][-1] == tiny_tokenizer.eos_token_id


def test_long_rows_are_truncated_and_rows_without_an_answer_skipped(tiny_tokenizer) -> None:
    long_answer = {**ROW, "output": "apple " * 40}
    long_prompt = {**ROW, "instruction": "river " * 40}
    examples, stats = build_examples(tiny_tokenizer, [long_answer, long_prompt, ROW], "instruction", 24)

    assert [len(e["input_ids"]) for e in examples] == [24, len(examples[1]["input_ids"])]
    assert (stats.rows, stats.kept, stats.truncated, stats.dropped_no_target) == (3, 2, 2, 1)
    assert any("max_seq_length=24" in note for note in stats.notes)


def test_the_collator_pads_right_and_masks_padding() -> None:
    batch = PadCollator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["input_ids"].dtype == torch.long
