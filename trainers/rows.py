"""The row shapes Hone reads — text, instruction, chat, preference, classification — and how one
raw row is checked and normalised into its task's shape, each problem named by its field."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from trainers.formats import DataError, Record, describe_value
from trainers.text_checks import blank, unstorable

INSTRUCTION_KEYS = ("instruction", "prompt", "question")
INPUT_KEYS = ("input", "context")
OUTPUT_KEYS = ("output", "response", "answer", "completion")
CHAT_KEYS = ("messages", "conversations")
ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant"}
# A text + label row is also a text row: a classification file's text-only rows are not "another kind".
_PARTIAL_OF = {("text", "classification")}


class Fields:
    """One raw row being normalised: reads fields by name or alias, noting problems and used keys."""

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        self.problems: list[tuple[str | None, str]] = []
        self.used: set[str] = set()

    def problem(self, name: str | None, message: str) -> None:
        self.problems.append((name, message))

    def key(self, names: tuple[str, ...]) -> str | None:
        """The first of ``names`` the row has, marked as used; None if it has none."""
        found = next((name for name in names if name in self.raw), None)
        if found is not None:
            self.used.add(found)
        return found

    def missing(self, names: tuple[str, ...]) -> None:
        aliases = ", ".join(f"'{name}'" for name in names[1:])
        self.problem(names[0], f"missing (also accepted as {aliases})" if aliases else "missing")

    def text(self, *names: str, optional: bool = False) -> str:
        key = self.key(names)
        if key is None:
            if not optional:
                self.missing(names)
            return ""
        return _check_text(self, key, self.raw[key], optional=optional)

    def label(self) -> str | int:
        if self.key(("label",)) is None:
            self.missing(("label",))
            return ""
        value = self.raw["label"]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem("label", f"must be text or a whole number, got {describe_value(value)}")
            return ""
        if isinstance(value, str) and blank(value):
            self.problem("label", "is empty")
        elif isinstance(value, str) and unstorable(value):
            self.problem("label", unstorable(value))
        return value


def _check_text(fields: Fields, name: str, value: object, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        fields.problem(name, f"must be text, got {describe_value(value)}")
        return ""
    bad = unstorable(value)
    if bad:
        fields.problem(name, bad)
    elif not optional and blank(value):
        fields.problem(name, "is empty" if not value.strip() else "holds only invisible characters")
    return value


def _text_row(fields: Fields) -> dict:
    return {"text": fields.text("text")}


def _instruction_row(fields: Fields) -> dict:
    return {
        "instruction": fields.text(*INSTRUCTION_KEYS),
        "input": fields.text(*INPUT_KEYS, optional=True),
        "output": fields.text(*OUTPUT_KEYS),
    }


def _preference_row(fields: Fields) -> dict:
    row = {name: fields.text(name) for name in ("prompt", "chosen", "rejected")}
    if not fields.problems and row["chosen"].strip() == row["rejected"].strip():
        fields.problem("rejected", "is the same as 'chosen'; a preference pair needs two different answers")
    return row


def _multiple_choice_row(fields: Fields) -> dict:
    """A question, its choices (two or more texts) and the right one: its index or its text."""
    question = fields.text(*INSTRUCTION_KEYS)
    choices = _choices(fields)
    if fields.key(("answer", "label")) is None:
        fields.missing(("answer", "label"))
        return {"question": question, "choices": choices, "answer": 0}
    key = "answer" if "answer" in fields.raw else "label"
    value = fields.raw[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value in choices:
        value = choices.index(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < max(len(choices), 1):
        fields.problem(key, f"must be the index of the right choice (0 to {len(choices) - 1}) or its "
                       f"text, got {describe_value(value)}")
        value = 0
    return {"question": question, "choices": choices, "answer": value}


def _choices(fields: Fields) -> list[str]:
    if fields.key(("choices",)) is None:
        fields.missing(("choices",))
        return []
    value = fields.raw["choices"]
    if isinstance(value, str):  # a CSV cell holding the JSON array
        with suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, list) or len(value) < 2:
        fields.problem("choices", f"must be a list of two or more answers, got {describe_value(value)}")
        return []
    return [_check_text(fields, f"choices[{i}]", item) for i, item in enumerate(value)]


def _classification_row(fields: Fields) -> dict:
    return {"text": fields.text("text"), "label": fields.label()}


def _chat_row(fields: Fields) -> dict:
    key = fields.key(CHAT_KEYS)
    if key is None:
        fields.missing(CHAT_KEYS)
        return {"messages": []}
    value = fields.raw[key]
    if isinstance(value, str):  # a CSV cell or string column holding the JSON array
        with suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else describe_value(value)
        example = '[{"role": "user", "content": "..."}, ...]'
        fields.problem(key, f"must be a list of messages like {example}, got {got}")
        return {"messages": []}
    messages = [_message(fields, f"{key}[{index}]", item) for index, item in enumerate(value)]
    if fields.problems:
        return {"messages": []}
    if not any(message["role"] == "assistant" for message in messages):
        fields.problem(key, "has no assistant turn; a conversation needs at least one reply to learn from")
    return {"messages": messages}


def _message(fields: Fields, where: str, item: object) -> dict:
    if not isinstance(item, dict):
        fields.problem(where, f"must be an object with 'role' and 'content', got {describe_value(item)}")
        return {}
    role_key = "role" if "role" in item or "from" not in item else "from"
    content_key = "content" if "content" in item or "value" not in item else "value"
    if role_key not in item:
        fields.problem(f"{where}.role", "missing")
        return {}
    role = ROLES.get(item[role_key].lower()) if isinstance(item[role_key], str) else None
    if role is None:
        known = "system, user or assistant (or ShareGPT's human and gpt)"
        fields.problem(f"{where}.{role_key}", f"unknown role {describe_value(item[role_key])}; use {known}")
        return {}
    if content_key not in item:
        fields.problem(f"{where}.content", "missing")
        return {}
    content = _check_text(fields, f"{where}.{content_key}", item[content_key], optional=role == "system")
    return {"role": role, "content": content}


TASKS: dict[str, Callable[[Fields], dict]] = {
    "text": _text_row,
    "instruction": _instruction_row,
    "chat": _chat_row,
    "preference": _preference_row,
    "classification": _classification_row,
    "multiple_choice": _multiple_choice_row,
}
MOST_SPECIFIC_FIRST = ("preference", "chat", "multiple_choice", "instruction", "classification", "text")


def row_task(raw: dict) -> tuple[str, str] | None:
    """The task a row's keys point to, most specific first, and the key that shows it."""
    if "chosen" in raw and "rejected" in raw:
        return "preference", "chosen"
    chat_key = next((key for key in CHAT_KEYS if key in raw), None)
    if chat_key:
        return "chat", chat_key
    if "choices" in raw:
        return "multiple_choice", "choices"
    output_key = next((key for key in OUTPUT_KEYS if key in raw), None)
    if output_key and any(key in raw for key in INSTRUCTION_KEYS):
        return "instruction", output_key
    if "text" in raw:
        return ("classification", "label") if "label" in raw else ("text", "text")
    return None


@dataclass
class Checked:
    row: dict | None
    problems: list[tuple[str | None, str]]
    used: set[str]


def check_record(record: Record, task: str) -> Checked:
    """Normalise one record for ``task``, or say what is wrong with it."""
    if record.value is None:
        return Checked(None, [(None, record.error or "unreadable")], set())
    fields = Fields(record.value)
    row = TASKS[task](fields)
    if not fields.problems:
        return Checked(row, [], fields.used)
    other = row_task(record.value)
    if other and other[0] != task and (other[0], task) not in _PARTIAL_OF:
        message = f"this row looks like {other[0]} data, but the file holds {task} data"
        message += "; put each kind of data in its own file"
        return Checked(None, [(other[1], message)], fields.used)
    return Checked(None, fields.problems, fields.used)


def require_task(task: str, name: str) -> None:
    if task not in TASKS:
        raise DataError(f"unknown task '{task}'; expected one of {', '.join(TASKS)}", file=name)
