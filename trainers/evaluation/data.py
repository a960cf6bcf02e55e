"""The rows an evaluation reads: checked against the spec's sha256, then turned into texts or labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.data import DataError, file_sha256, load_rows
from trainers.evaluation.texts import EVAL_TEXTS
from trainers.examples import instruction_messages, render
from trainers.spec import DatasetRef, SpecError

LM_TASKS = ("text", "instruction", "chat")


@dataclass(frozen=True)
class TextSet:
    """Texts to score; rendered chats carry their own bos, so the tokenizer must not add one."""

    texts: list[str]
    add_special_tokens: bool
    source: str


def check_dataset(ref: DatasetRef, field: str, tasks: tuple[str, ...]) -> None:
    """Refuse a missing, changed or wrong-kind dataset before any model is loaded."""
    if ref.task not in tasks:
        raise SpecError(f"{field}.task: this job reads {', '.join(tasks)} data, not {ref.task!r}")
    path = Path(ref.path)
    if not path.is_file():
        raise DataError("the dataset file does not exist", file=str(path))
    digest = file_sha256(path)
    if digest != ref.sha256:
        raise DataError(
            f"the file has changed since it was uploaded (sha256 {digest}, expected {ref.sha256}); "
            "upload it again",
            file=path.name,
        )


def read_rows(ref: DatasetRef, max_rows: int) -> list[dict]:
    """The first ``max_rows`` rows: the eval split when the dataset has one."""
    path = Path(ref.eval_path or ref.path)
    rows = load_rows(path, ref.format, ref.task)[:max_rows]
    if not rows:
        raise DataError("the dataset has no rows", file=path.name)
    return rows


def lm_texts(tokenizer: Any, ref: DatasetRef | None, max_rows: int) -> TextSet:
    """Texts for perplexity: plain text as is, instructions and chats through the chat template."""
    if ref is None:
        return TextSet(list(EVAL_TEXTS), True, "built-in passages")
    rows = read_rows(ref, max_rows)
    source = Path(ref.eval_path or ref.path).name
    if ref.task == "text":
        return TextSet([row["text"] for row in rows], True, source)
    from trainers.examples import ensure_chat_template

    ensure_chat_template(tokenizer)
    conversations = [instruction_messages(r) if ref.task == "instruction" else r["messages"] for r in rows]
    return TextSet([render(tokenizer, messages) for messages in conversations], False, source)
