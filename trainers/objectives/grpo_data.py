"""GRPO's data: each row is a prompt and the answer the rewards check it against, read from the
instruction task's rows (``prompt`` / ``instruction`` / ``question`` + ``answer`` / ``output``) or
from chats (the conversation before the last assistant turn is the prompt, that turn the answer).

``problems`` reads a file once, before any model loads, and says for each row what cannot work
there: a chosen reward that cannot score its answer (math on "forty-two"), or a prompt so long that
prompt plus completion budget exceed ``training.max_seq_length``. The launch path (``jobs.launch``)
and the trainer run the same check. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from trainers.examples import instruction_messages
from trainers.formats import read_records
from trainers.rewards import registry as rewards
from trainers.rewards.registry import RewardChoice
from trainers.rows import CHAT_KEYS, INSTRUCTION_KEYS, OUTPUT_KEYS, check_record


@dataclass(frozen=True)
class Task:
    """One row as GRPO reads it: the prompt as chat messages, and the expected answer."""

    prompt: list[dict]
    answer: str


@dataclass(frozen=True)
class RowProblem:
    number: int  # the row's number as the file counts it (line or row)
    field: str | None  # the field as the user named it
    message: str
    reward: int | None = None  # the index of the chosen reward that cannot apply, if that is it


def task_of(row: dict, task: str) -> Task:
    """A normalised row (``trainers.rows``) as a prompt and its answer."""
    if task == "instruction":
        return Task(instruction_messages(row)[:1], row["output"])
    messages = row["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return Task(messages[:last], messages[last]["content"])


def prompt_tokens(tokenizer: Any, prompt: list[dict]) -> int:
    """The prompt's length as TRL's GRPO gives it to the model: chat template, generation prompt."""
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
    return len(ids["input_ids"])


def problems(
    path: Path,
    format: str,
    task: str,
    choices: list[RewardChoice],
    *,
    tokenizer: Any = None,
    budget: tuple[int, int] | None = None,
    filename: str | None = None,
    limit: int | None = None,
    max_problems: int = 5,
    group: str = "grpo",
) -> list[RowProblem]:
    """The first ``max_problems`` rows GRPO cannot train on; ``budget``: (max_seq_length,
    max_completion_length) for the prompt-length check, with ``tokenizer``; ``limit``: rows read;
    ``group``: the objective whose ``max_completion_length`` the messages name."""
    found: list[RowProblem] = []
    for number, used, item in islice(_tasks(path, format, task, filename), limit):
        found += _row_problems(number, used, item, task, choices, tokenizer, budget, group)
        if len(found) >= max_problems:
            break
    return found[:max_problems]


def _tasks(path: Path, format: str, task: str, filename: str | None) -> Iterator[tuple[int, set, Task]]:
    """(row number, the user's field names, the task) for each valid row; bad rows are the
    upload check's to report, and the trainer's reading refuses them."""
    for record in read_records(path, format, filename or path.name):
        checked = check_record(record, task)
        if checked.row is not None:
            yield record.number, checked.used, task_of(checked.row, task)


def _row_problems(
    number: int,
    used: set,
    item: Task,
    task: str,
    choices: list[RewardChoice],
    tokenizer: Any,
    budget: tuple[int, int] | None,
    group: str = "grpo",
) -> list[RowProblem]:
    prompt_field, answer_field = _fields(used, task)
    if not item.prompt:
        return [
            RowProblem(
                number,
                prompt_field,
                "the conversation opens with the answer; GRPO needs a prompt "
                "(a user turn) before the last assistant turn",
            )
        ]
    found = [
        RowProblem(number, answer_field, f"{choices[index].name} cannot score this row: {why}", index)
        for index, why in rewards.row_problems(choices, item.answer)
    ]
    if tokenizer is not None and budget is not None:
        max_seq, completion = budget
        tokens = prompt_tokens(tokenizer, item.prompt)
        if tokens + completion > max_seq:
            found.append(
                RowProblem(
                    number,
                    prompt_field,
                    (
                        f"the prompt is {tokens} tokens; with {group}.max_completion_length {completion} "
                        f"that is more than training.max_seq_length {max_seq}; raise max_seq_length to "
                        f"{tokens + completion}, lower max_completion_length, or shorten the prompt"
                    ),
                )
            )
    return found


def _fields(used: set, task: str) -> tuple[str, str]:
    """The prompt's and the answer's field as the user's file names them."""
    if task == "chat":
        key = next((k for k in CHAT_KEYS if k in used), CHAT_KEYS[0])
        return key, key
    prompt = next((k for k in INSTRUCTION_KEYS if k in used), INSTRUCTION_KEYS[0])
    return prompt, next((k for k in OUTPUT_KEYS if k in used), OUTPUT_KEYS[0])
