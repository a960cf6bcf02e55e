"""Calibration windows for GPTQ: token sequences the layer statistics are measured on.

Rows are shuffled (seeded), rendered to text (instructions and chats through the chat template, as
training renders them), tokenized and joined with eos into one stream, which is cut into
``calibration_samples`` non-overlapping windows of ``calibration_seq_len`` tokens. A user dataset
that cannot fill them is refused before any work. Without a dataset, GPTQ calibrates on the
built-in passages below; they fill fewer windows than a real dataset, so the job uses as many as
they give and says so (a dataset from the model's own domain calibrates better).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainers.data import load_rows
from trainers.evaluation.data import check_dataset
from trainers.examples import ensure_chat_template, instruction_messages, render
from trainers.spec import DatasetRef, SpecError

log = logging.getLogger("trainers")

CALIBRATION_TASKS = ("text", "instruction", "chat")
MAX_CALIBRATION_ROWS = 100_000

CALIBRATION_TEXTS: tuple[str, ...] = (
    "Rivers shape the land they cross. Over thousands of years a river cuts a valley, carries sand and "
    "stones downstream, and drops them where the water slows, building plains and deltas. People have "
    "always settled beside rivers for water, food and transport, and many of the oldest cities stand on "
    "their banks.",
    "Question: Why does ice float on water?\nAnswer: When water freezes, its molecules arrange themselves "
    "in an open crystal pattern that takes up more space than liquid water. Ice is therefore less dense "
    "than the water around it, and anything less dense than water floats.",
    "Dear Ms. Patel,\nThank you for your letter of 12 March. I am pleased to confirm that the meeting room "
    "is reserved for the afternoon of the 28th, from two until five o'clock. Please let me know if you "
    "need a projector or refreshments.\nKind regards,\nJonas Berg",
    "The recipe is simple. Chop two onions and fry them gently in olive oil until soft. Add a tin of "
    "tomatoes, a pinch of salt and a spoon of sugar, and let the sauce simmer for twenty minutes. Stir in "
    "fresh basil just before serving with pasta.",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n"
    "        self.items.append(item)\n\n    def pop(self):\n        if not self.items:\n"
    '            raise IndexError("pop from an empty stack")\n        return self.items.pop()\n',
    "In 1969 two astronauts walked on the Moon while a third orbited above them. The landing was watched "
    "by hundreds of millions of people on television. The crew brought back 21.5 kilograms of rock and "
    "soil, which scientists still study to learn how the Moon formed.",
    "User: Can you recommend a good way to learn a new language?\nAssistant: Practise a little every day "
    "rather than a lot once a week. Listen to native speakers, read simple stories, and try to speak from "
    "the start, even if you make mistakes. Mistakes are how you learn.",
    "The train left the station at seven. Mira watched the fields slide past, grey under low clouds, and "
    "tried to remember the address her grandmother had written on the back of the photograph. By the "
    "time the sun came out, she had fallen asleep with the picture on her lap.",
    "A budget starts with two lists: what comes in and what goes out. Write down your income for the "
    "month, then every expense, from rent to coffee. If the second list is longer than the first, look "
    "for costs you can cut, and set aside something for savings before you spend the rest.",
    "To reset the router, hold the small button on the back for ten seconds until the lights flash. Wait "
    "two minutes for it to restart, then connect to the network printed on the label. You will need to "
    "set a new password the first time you log in.",
    "Table 3 shows the results. Sample A reached 84.2 percent accuracy after 10 epochs, sample B reached "
    "79.5 percent, and the baseline stayed at 61.0 percent. The difference between A and B was "
    "significant (p < 0.01), while longer training brought no further gain.",
    "Bees visit flowers to collect nectar and pollen. As they move from plant to plant, pollen sticks to "
    "their bodies and is carried to other flowers, which lets the plants make seeds. Without pollinators, "
    "many fruits and vegetables would become rare and expensive.",
    "SELECT customer_id, COUNT(*) AS orders, SUM(total) AS spent\nFROM orders\nWHERE created_at >= "
    "'2024-01-01'\nGROUP BY customer_id\nHAVING COUNT(*) > 3\nORDER BY spent DESC\nLIMIT 10;",
    "Good sleep is built on habits. Go to bed and get up at the same time each day, keep the bedroom dark "
    "and cool, and avoid screens for an hour before sleeping. Caffeine late in the day can keep you awake "
    "for longer than you might expect.",
    "The museum's new wing opens next month with an exhibition of maps from five centuries. Visitors will "
    "see how sailors drew coastlines they had only glimpsed, how cities grew street by street, and how "
    "satellites finally showed the whole planet at once.",
    "Once upon a time a fox found a bunch of grapes hanging high on a vine. He jumped and jumped but could "
    "not reach them. At last he walked away, saying to himself that the grapes were probably sour anyway.",
)


@dataclass(frozen=True)
class Calibration:
    windows: list[torch.Tensor]  # each [1, seq_len]
    source: str
    tokens: int  # tokens the rows gave before cutting into windows


def check_calibration(ref: DatasetRef | None) -> None:
    if ref is not None:
        check_dataset(ref, "calibration", CALIBRATION_TASKS)


def calibration_texts(tokenizer: Any, ref: DatasetRef | None, seed: int) -> tuple[list[str], bool, str]:
    """Shuffled texts, whether the tokenizer should add special tokens, and where they came from."""
    if ref is None:
        return list(CALIBRATION_TEXTS), True, "built-in passages"
    rows = load_rows(Path(ref.path), ref.format, ref.task)[:MAX_CALIBRATION_ROWS]  # the training split
    random.Random(seed).shuffle(rows)
    if ref.task == "text":
        return [row["text"] for row in rows], True, Path(ref.path).name
    ensure_chat_template(tokenizer)
    chats = [instruction_messages(r) if ref.task == "instruction" else r["messages"] for r in rows]
    return [render(tokenizer, chat) for chat in chats], False, Path(ref.path).name


def build_calibration(
    tokenizer: Any, ref: DatasetRef | None, samples: int, seq_len: int, seed: int, group: str = "gptq_int4"
) -> Calibration:
    """``samples`` windows of ``seq_len`` tokens; ``group`` names the spec's parameters in refusals."""
    texts, special, source = calibration_texts(tokenizer, ref, seed)
    needed, stream = samples * seq_len, []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=special)["input_ids"] + eos
        if len(stream) >= needed:
            break
    available = len(stream) // seq_len
    if available < samples:
        if ref is not None:
            raise SpecError(
                f"calibration: {source} gives {len(stream):,} tokens, enough for {available} windows of "
                f"{seq_len}, but {group}.calibration_samples asks for {samples} ({needed:,} tokens). "
                "Add rows, or lower calibration_samples or calibration_seq_len"
            )
        if available == 0:
            raise SpecError(
                f"calibration: the built-in passages give {len(stream):,} tokens, fewer than one window of "
                f"{seq_len}; lower {group}.calibration_seq_len or give a calibration dataset"
            )
        log.warning(
            f"The built-in calibration passages fill {available} of the {samples} windows asked for; "
            "a calibration dataset from your own domain gives more to measure"
        )
    windows = [
        torch.tensor([stream[i * seq_len : (i + 1) * seq_len]]) for i in range(min(samples, available))
    ]
    return Calibration(windows, source, len(stream))
