"""Quality filters: length in tokens, repetition, empty and truncated answers, language.

Lengths count the tokens of the tokenizer of the model the data is for (``spec.tokenizer``, read
with ``tokenizers`` / transformers' fast tokenizer, no weights) or, without one, words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainers.curate.language import detect
from trainers.curate.texts import normalise
from trainers.spec import ModelRef
from trainers.spec_curate import QualityStep

Counter = Callable[[list[str]], list[int]]
# A finished answer ends on punctuation, a bracket, a quote, a digit or a symbol; a cut one on a letter.
_ENDS_ON_LETTER = re.compile(r"[^\W\d_]\s*$")


def token_counter(ref: ModelRef | None) -> Counter:
    """Counts tokens as the model would (no special tokens), or words without a model."""
    if ref is None or ref.path is None:
        return lambda texts: [len(t.split()) for t in texts]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(Path(ref.path))

    def count(texts: list[str]) -> list[int]:
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(row) for row in ids]

    return count


def repetition(text: str, n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for fresh text, near 1 for a loop."""
    tokens = normalise(text).split()
    if len(tokens) < n + 1:
        return 0.0
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams)


def truncated(answer: str) -> bool:
    """An answer that stops mid-word or mid-sentence, or leaves a ``` code block open."""
    if answer.count("```") % 2 == 1:
        return True
    stripped = answer.rstrip()
    # A short answer ("Paris", "42") need not end a sentence; a long one ending on a bare word does.
    return len(stripped.split()) >= 8 and bool(_ENDS_ON_LETTER.search(stripped))


@dataclass
class Verdict:
    reason: str | None  # None: passes
    detail: str
    tokens: int
    repetition: float
    language: str | None = None  # the detector's guess, where languages were asked for


def judge(step: QualityStep, tokens: int, text: str, answer: str | None) -> Verdict:
    rep = repetition(text)
    unit = "tokens"
    if answer is not None and step.drop_empty and not normalise(answer):
        return Verdict("empty_answer", "the answer is empty or only punctuation", tokens, rep)
    if step.min_tokens is not None and tokens < step.min_tokens:
        return Verdict("too_short", f"{tokens} {unit}, under the {step.min_tokens} minimum", tokens, rep)
    if step.max_tokens is not None and tokens > step.max_tokens:
        return Verdict("too_long", f"{tokens} {unit}, over the {step.max_tokens} maximum", tokens, rep)
    if step.max_repetition is not None and rep > step.max_repetition:
        return Verdict(
            "repetitive",
            f"{rep:.0%} of its 3-word phrases repeat (limit {step.max_repetition:.0%})",
            tokens,
            rep,
        )
    if answer is not None and step.drop_truncated and truncated(answer):
        return Verdict(
            "truncated_answer", "the answer stops mid-sentence or leaves a code block open", tokens, rep
        )
    if step.languages:
        return language_verdict(step, text, Verdict(None, "", tokens, rep))
    return Verdict(None, "", tokens, rep)


def language_verdict(step: QualityStep, text: str, verdict: Verdict) -> Verdict:
    guess = detect(text)
    verdict.language = guess.language
    if guess.language not in step.languages and guess.confidence >= step.min_language_confidence:
        verdict.reason = "wrong_language"
        verdict.detail = (
            f"detected {guess.language} ({guess.confidence:.0%} sure), not one of {', '.join(step.languages)}"
        )
    return verdict
