"""OpenAI's reinforcement fine-tuning file format, as Hone chat rows GRPO reads.

OpenAI writes a row as the prompt (``messages``, ending before any answer) plus the fields its grader
references (``{"messages": [...], "answer": "42"}`` with ``{{item.answer}}``). Hone's GRPO samples
answers to the conversation before the last assistant turn and scores them against that turn
(``trainers.objectives.grpo_data``), so on upload each row becomes its messages plus one assistant
turn holding the reference: the row's one field besides ``messages``, or, when it has several, the
first of ``REFERENCE_NAMES`` it has. Every field stays on the row, so a job's grader can be checked
against the file before any compute (``reference_problems``): each row must have the field the
grader names, and that field must be the reference the row is scored against.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from django.core.files import File

from api.openai_compat.preference import first_row, rewritten
from jobs.data import storage
from jobs.models import Dataset
from trainers.formats import UNITS, location, read_records

REFERENCE_NAMES = ("answer", "reference_answer", "reference", "ground_truth", "solution", "label", "output")
CHECKED_ROWS = 10_000  # as the launch path reads (jobs.launch.grpo_checks.LAUNCH_ROWS)
MAX_PROBLEMS = 5


def is_openai_reinforcement(upload) -> bool:
    """Whether the upload's first row is a prompt with no answer turn and fields beside it."""
    row = first_row(upload)
    if row is None or not isinstance(row.get("messages"), list) or len(row) < 2:
        return False
    return not any(isinstance(m, dict) and m.get("role") == "assistant" for m in row["messages"])


def reference_of(row: dict) -> tuple[str | None, str]:
    """(the field that holds the row's reference, or None; the problem if None)."""
    fields = [key for key in row if key != "messages"]
    if len(fields) != 1:
        fields = [key for key in REFERENCE_NAMES if key in row]
    if not fields:
        names = ", ".join(key for key in row if key != "messages") or "none"
        return None, (
            f"has several fields besides messages ({names}); Hone scores against one reference per row: "
            f"name it one of {', '.join(REFERENCE_NAMES)}"
        )
    value = row[fields[0]]
    if isinstance(value, bool) or not isinstance(value, str | int | float) or str(value).strip() == "":
        return (
            None,
            f"{fields[0]} must be non-empty text or a number, the reference answers are scored against",
        )
    return fields[0], ""


def _translated_row(row: object) -> tuple[dict | None, list[tuple[str, str]]]:
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        return None, [
            ("messages", "missing; a reinforcement row is the prompt's messages plus its reference")
        ]
    if any(isinstance(m, dict) and m.get("role") == "assistant" for m in row["messages"]):
        return None, [
            ("messages", "has an assistant turn; a reinforcement row's prompt ends before the answer")
        ]
    field, problem = reference_of(row)
    if field is None:
        return None, [("row", problem)]
    answer = {"role": "assistant", "content": str(row[field])}
    return {**row, "messages": [*row["messages"], answer]}, []


def translated(upload) -> File:
    """The upload as a JSONL file of Hone chat rows (same name), or FileProblems naming line and field."""
    return rewritten(upload, _translated_row)


def reference_problems(dataset: Dataset, field: str, at: str) -> list[str]:
    """Rows where ``{{item.<field>}}`` is missing or is not what the row is scored against."""
    unit = UNITS[dataset.format]
    path = storage.resolve(dataset.location)
    found: list[str] = []
    for record in islice(read_records(Path(path), dataset.format, dataset.filename), CHECKED_ROWS):
        why = _row_problem(record.value, field, at)
        if why:
            found.append(f"{location(unit, record.number, field)}: {why}")
        if len(found) >= MAX_PROBLEMS:
            break
    return found


def _row_problem(row: dict | None, field: str, at: str) -> str | None:
    if row is None:
        return None  # unreadable rows were refused on upload
    if field not in row:
        return f"missing; {at} scores each answer against item.{field}"
    messages = row.get("messages") if isinstance(row.get("messages"), list) else []
    last = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "assistant"), None)
    if last is None or last.get("content") != str(row[field]):
        return (
            f"is not this row's reference: Hone scores against the last assistant turn, which holds "
            f"another text; upload the file in OpenAI's reinforcement format (messages without an "
            f"answer, and {field})"
        )
    return None
