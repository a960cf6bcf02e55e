"""A dataset as a model will see it: rows rendered with the model's chat template, token counts.

The rendering and tokenizing are the trainer's own (``trainers.examples``), so what the page
shows is what training will read: the same template (or the fallback for template-less
models), the same pieces the loss is computed on, the same lengths and the same cut at
``max_seq_length``. Token lengths come from a sample of the file and are cached.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.core.cache import cache
from django.db.models import QuerySet

from jobs.data import storage
from jobs.models import Dataset, ModelAsset
from jobs.web.histogram import length_histogram
from trainers.data import DataError, iter_rows
from trainers.spec import TrainingParams

log = logging.getLogger(__name__)

PREVIEW_ROWS = 3
SAMPLE_ROWS = 1000
TOKENIZER_CACHE_SIZE = 4
NO_LIMIT = 10**9
DEFAULT_MAX_LENGTH = TrainingParams.model_fields["max_seq_length"].default
MIN_MAX_LENGTH, MAX_MAX_LENGTH = 16, 32768
CACHE_SECONDS = 24 * 3600

_tokenizers: OrderedDict[str, object] = OrderedDict()
_tokenizers_lock = threading.Lock()


class PreviewUnavailable(Exception):
    """The rows cannot be rendered for this model; the message says why, in the user's terms."""


def tokenizer_source(model: ModelAsset) -> str | None:
    """Where the model's tokenizer lives: an adapter's own folder (training saves one there),
    else the model's."""
    if model.format == ModelAsset.Format.GGUF:
        return None
    if model.format == ModelAsset.Format.ADAPTER:
        own = Path(model.path)
        if (own / "tokenizer_config.json").is_file():
            return str(own)
        base = model.adapter_base
        return (base.path or base.hub_id) if base else None
    return model.path or model.hub_id or None


def load_tokenizer(model: ModelAsset):
    """The model's tokenizer with the chat template training uses; cached, a few at a time."""
    source = tokenizer_source(model)
    if source is None:
        raise PreviewUnavailable(f"{model.name} is a GGUF file; pick a transformers model to preview with.")
    with _tokenizers_lock:
        if source in _tokenizers:
            _tokenizers.move_to_end(source)
            return _tokenizers[source]
    from transformers import AutoTokenizer

    from trainers.examples import ensure_chat_template

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise PreviewUnavailable(f"the tokenizer of {model.name} could not be loaded: {exc}") from None
    ensure_chat_template(tokenizer)
    with _tokenizers_lock:
        _tokenizers[source] = tokenizer
        while len(_tokenizers) > TOKENIZER_CACHE_SIZE:
            _tokenizers.popitem(last=False)
    return tokenizer


def read_rows(dataset: Dataset, limit: int) -> list[dict]:
    """The first ``limit`` rows of the stored file, normalised as the trainer reads them."""
    path = storage.resolve(dataset.location)
    try:
        return list(islice(iter_rows(path, dataset.format, dataset.task, filename=dataset.filename), limit))
    except (OSError, DataError) as exc:
        raise PreviewUnavailable(f"the stored file could not be read: {exc}") from None


def _messages(row: dict, task: str) -> list[dict] | None:
    from trainers.examples import row_messages

    if task in ("instruction", "chat"):
        return row_messages(row, task)
    return None


def token_ids(tokenizer, row: dict, task: str) -> list[int]:
    """The ids training would build for this row, before any cut."""
    from trainers.examples import TemplateMismatch, render, tokenize_chat, tokenize_text

    if task == "preference":  # the longer of prompt + chosen and prompt + rejected, as TRL joins them
        return max((preference_ids(tokenizer, row, side) for side in ("chosen", "rejected")), key=len)
    if task == "classification":  # the classifier reads the text as the tokenizer encodes it, no eos
        return tokenizer(row["text"])["input_ids"]
    if task == "multiple_choice":  # the harness task's prompt with the right choice after it
        return tokenizer(f"Question: {row['question']}\nAnswer: {row['choices'][row['answer']]}")["input_ids"]
    messages = _messages(row, task)
    if messages is None:
        return tokenize_text(tokenizer, row["text"], NO_LIMIT)["input_ids"]
    try:
        return tokenize_chat(tokenizer, messages, NO_LIMIT)["input_ids"]
    except TemplateMismatch:
        return tokenize_text(tokenizer, render(tokenizer, messages), NO_LIMIT)["input_ids"]


def preference_ids(tokenizer, row: dict, side: str) -> list[int]:
    """Prompt and answer as TRL's preference trainers read untemplated rows: one string, eos added."""
    eos = tokenizer.eos_token or ""
    answer = row[side] if row[side].endswith(eos) else row[side] + eos
    return tokenizer(row["prompt"] + answer)["input_ids"]


def preference_split(tokenizer, row: dict, side: str) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) of one side, split where TRL starts the completion: where the
    prompt's own tokens and the joined text's part (a prompt's last token may merge)."""
    prompt, ids = tokenizer(row["prompt"])["input_ids"], preference_ids(tokenizer, row, side)
    start = 0
    while start < min(len(prompt), len(ids)) and prompt[start] == ids[start]:
        start += 1
    return ids[:start], ids[start:]


@dataclass
class RenderedRow:
    number: int
    segments: list[tuple[str, bool]]  # (text, is a target the loss is computed on)
    tokens: int
    truncated: bool
    kept_text: str = ""  # when cut: the end of what the model still sees
    notes: list[str] = field(default_factory=list)


def render_row(tokenizer, row: dict, task: str, number: int, max_length: int) -> RenderedRow:
    from trainers.examples import TemplateMismatch, chat_segments, render

    ids = token_ids(tokenizer, row, task)
    messages = _messages(row, task)
    notes = []
    if task == "preference":  # the prompt and the preferred answer, as the preference trainer joins them
        prompt, answer = preference_split(tokenizer, row, "chosen")
        segments = [(tokenizer.decode(prompt), False), (tokenizer.decode(answer), True)]
    elif messages is None:
        segments = [(tokenizer.decode(ids), task == "text")]
    else:
        try:
            segments = chat_segments(tokenizer, messages)
        except TemplateMismatch:
            segments = [(render(tokenizer, messages), True)]
            notes.append("The chat template cannot be split by turn here; training uses the whole text.")
    truncated = len(ids) > max_length
    kept = tokenizer.decode(ids[max(0, max_length - 12) : max_length]) if truncated else ""
    return RenderedRow(number, segments, len(ids), truncated, kept, notes)


@dataclass
class LengthSummary:
    sampled: int
    total: int
    longest: int
    median: float
    p95: int
    p99: int
    mean: float
    over: int  # sampled rows longer than the cut

    @property
    def over_estimate(self) -> int:
        """Rows of the whole file expected to be cut, scaled up from the sample."""
        return round(self.over * self.total / self.sampled) if self.sampled else 0


def summarize(lengths: list[int], max_length: int, total: int) -> LengthSummary:
    ordered = sorted(lengths)

    def quantile(share: float) -> int:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0

    return LengthSummary(
        sampled=len(ordered),
        total=total,
        longest=ordered[-1] if ordered else 0,
        median=statistics.median(ordered) if ordered else 0,
        p95=quantile(0.95),
        p99=quantile(0.99),
        mean=statistics.fmean(ordered) if ordered else 0.0,
        over=sum(length > max_length for length in ordered),
    )


def recommended_max_length(lengths: list[int], max_positions: int | None = None) -> int:
    """The smallest power of two (at least 64) that holds 99% of the sampled rows whole,
    within what the model can read."""
    ordered = sorted(lengths)
    needed = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else DEFAULT_MAX_LENGTH
    length = 64
    while length < needed and length < MAX_MAX_LENGTH:
        length *= 2
    if max_positions:
        length = min(length, max_positions)
    return max(MIN_MAX_LENGTH, length)


def token_lengths(dataset: Dataset, model: ModelAsset) -> list[int]:
    """Tokens per row for up to SAMPLE_ROWS rows; cached by file and tokenizer."""
    source = tokenizer_source(model) or ""
    key = "hone:lengths:" + hashlib.sha256(f"{dataset.sha256}|{dataset.task}|{source}".encode()).hexdigest()
    lengths = cache.get(key)
    if lengths is None:
        tokenizer = load_tokenizer(model)
        lengths = [len(token_ids(tokenizer, row, dataset.task)) for row in read_rows(dataset, SAMPLE_ROWS)]
        cache.set(key, lengths, CACHE_SECONDS)
    return lengths


def previewable_models(models: QuerySet[ModelAsset]) -> list[ModelAsset]:
    """Language models whose tokenizer can render the rows (built-in ones first)."""
    found = models.filter(task=ModelAsset.Task.CAUSAL_LM).exclude(format=ModelAsset.Format.GGUF)
    return sorted(found.select_related("adapter_base"), key=lambda m: (m.team_id is not None, m.name.lower()))


def max_length_from(query: Mapping, default: int = DEFAULT_MAX_LENGTH) -> int:
    try:
        value = int(query.get("max_length") or default)
    except (TypeError, ValueError):
        return default
    return min(max(value, MIN_MAX_LENGTH), MAX_MAX_LENGTH)


def preview(dataset: Dataset, model: ModelAsset, max_length: int) -> dict:
    """Rendered first rows, the length histogram and its summary; ``preview_error`` if impossible."""
    try:
        tokenizer = load_tokenizer(model)
        rows = [
            render_row(tokenizer, row, dataset.task, i + 1, max_length)
            for i, row in enumerate(read_rows(dataset, PREVIEW_ROWS))
        ]
        lengths = token_lengths(dataset, model)
    except PreviewUnavailable as exc:
        return {"preview_error": str(exc)}
    return {
        "rendered_rows": rows,
        "length_chart": length_histogram(lengths, max_length),
        "lengths": summarize(lengths, max_length, dataset.row_count),
    }


def dataset_context(dataset: Dataset, models: QuerySet[ModelAsset], query: Mapping) -> dict:
    """The dataset page's preview: which model's tokenizer, which cut, and the result."""
    choices = previewable_models(models)
    chosen = next(
        (m for m in choices if str(m.pk) == str(query.get("model"))), choices[0] if choices else None
    )
    max_length = max_length_from(query)
    context = {"preview_models": choices, "preview_model": chosen, "max_length": max_length}
    if dataset.task == "classification":
        return context | {"preview_error": "Classification rows are shown as they are: text and label."}
    if chosen is None:
        return context | {"preview_error": "No language model is available to preview the rows with."}
    return context | preview(dataset, chosen, max_length)
