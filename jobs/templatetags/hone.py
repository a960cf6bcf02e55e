"""Filters for numbers the pages show: metric values, signed changes, token counts; and the words of
the job page's empty parts."""

from __future__ import annotations

import re

from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def metric(value: float | None) -> str:
    """A metric value to four significant figures; small ones in scientific notation."""
    if value is None or value == "":
        return ""
    value = float(value)
    if value and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


@register.filter
def signed(value: float | None) -> str:
    """A change with its sign: '+0.12', '−3.4'."""
    if value is None:
        return ""
    text = metric(abs(value))
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else "0"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{float(value):.{int(digits)}f}%"


@register.filter
def thousands(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value) == int(value) else f"{value:,.2f}"


# What an empty part of a job's page says while it waits, in the words of the job's kind: a merge
# or a quantization trains nothing, so it must not promise loss curves or a trained adapter.
WAITING_WORDS: dict[str, dict[str, str]] = {
    "metrics": {
        "train": "The loss chart appears once training reports its first steps.",
        "merge": "A merge trains nothing, so it draws no curves; its merged model appears under Outputs.",
        "quantize": "Perplexity, size on disk and time appear here as each output is written.",
        "evaluate": "The results appear once the base and the candidate have both been measured.",
        "curate": "A curation trains nothing; what it kept and dropped, and why, appears when it is done.",
    },
    "samples": {
        "train": "Generations from the model appear here at each evaluation.",
        "merge": "A merge makes no generations; try the merged model in the playground once it is done.",
        "quantize": "A quantization makes no generations; try its model in the playground once it is done.",
        "evaluate": "The same prompts, answered by the base and by the candidate, appear here once both ran.",
        "curate": "A curation makes no generations; examples of the rows it dropped appear when it is done.",
    },
    "outputs": {
        "train": "The trained adapter or model appears here when the job finishes.",
        "merge": "The merged model appears here when the job finishes.",
        "quantize": "The quantized model and files appear here when the job finishes.",
        "evaluate": "The evaluation report appears here when the job finishes.",
        "curate": "The curated dataset and the per-row table of scores appear here when the job finishes.",
    },
}


@register.simple_tag
def waiting_words(part: str, kind: str) -> str:
    """``{% waiting_words "metrics" job.kind %}``: the placeholder of one part of the job page."""
    words = WAITING_WORDS[part]
    return words.get(kind, words["train"])


@register.filter
def measured(value: float | None, name: str) -> str:
    """A metric value in its unit, told by its name: bytes as a size, seconds as a time."""
    if value is None or value == "":
        return ""
    value = float(value)
    measure = str(name).rsplit("/", 1)[-1]
    if "bytes" in measure:
        return filesizeformat(value)
    if "seconds" in measure:
        return f"{value:.1f} s" if abs(value) < 600 else f"{value / 60:.1f} min"
    if measure == "compression_ratio":
        return f"{value:.2f}×"
    return metric(value)


@register.filter
def measured_change(value: float | None, name: str) -> str:
    """A change in its unit, with its sign: '−1.2 MB', '+0.4 s'."""
    if value is None:
        return ""
    text = measured(abs(value), name)
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else "0"


# Terminal colour and cursor codes (ESC [ … letter) that libraries write for a terminal, not a page.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


@register.filter
def without_ansi(text: str) -> str:
    """A log line without terminal escape codes: ``\\x1b[33mwarning\\x1b[0m`` shows as ``warning``."""
    return ANSI_ESCAPE.sub("", str(text))
