"""A judge model grading answers pairwise against a rubric, with position swapping.

The judge (any Hone causal LM, through its chat template, or the operator's OpenAI-compatible
endpoint: judge_endpoint.py) reads the rubric, the question and two answers labelled A and B, and is
asked which is better. Its verdict is read from its next-token distribution, not sampled:
``log P("A") - log P("B")``, deterministic and graded. Judges prefer
one position whatever the answers (position bias), so with ``swap_positions`` each pair is also
judged in the other order and the two margins are combined: ``(m(x, y) - m(y, x)) / 2``, in which a
constant pull towards A cancels. Positive means the first answer given is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trainers.examples import ensure_chat_template

INSTRUCTION = (
    "You are judging two answers to the same question against a rubric.\n\nRubric: {rubric}\n\n"
    "Question: {question}\n\nAnswer A: {first}\n\nAnswer B: {second}\n\n"
    "Which answer is better by the rubric? Reply with one letter, A or B."
)


@dataclass(frozen=True)
class Verdict:
    margin: float  # > 0: the first answer is better; in nats, averaged over both orders when swapped
    order_margins: tuple[float, ...]  # the margin for (x, y) as asked, then (y, x) seen from x when swapped

    @property
    def prefers_first(self) -> bool:
        return self.margin > 0


class PairwiseJudge:
    """What every judge does with its ``margin(question, first, second)``: compare, swapping positions."""

    def margin(self, question: str, first: str, second: str) -> float:
        raise NotImplementedError

    def compare(self, question: str, x: str, y: str, *, swap_positions: bool = True) -> Verdict:
        as_asked = self.margin(question, x, y)
        if not swap_positions:
            return Verdict(as_asked, (as_asked,))
        swapped = -self.margin(question, y, x)  # B is x now: its win is a negative margin
        return Verdict((as_asked + swapped) / 2, (as_asked, swapped))


class Judge(PairwiseJudge):
    """A Hone model as the judge, in this process."""

    def __init__(self, model: Any, tokenizer: Any, rubric: str) -> None:
        ensure_chat_template(tokenizer)
        self.model, self.tokenizer, self.rubric = model, tokenizer, rubric
        self.letters = [self._letter_id(letter) for letter in ("A", "B")]

    def _letter_id(self, letter: str) -> int:
        """The token the judge would start the letter with, right after its generation prompt."""
        ids = self.tokenizer(letter, add_special_tokens=False)["input_ids"]
        return ids[0]

    @torch.no_grad()
    def margin(self, question: str, first: str, second: str) -> float:
        """``log P(A) - log P(B)`` for the answers in this order."""
        content = INSTRUCTION.format(rubric=self.rubric, question=question, first=first, second=second)
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        device = next(self.model.parameters()).device
        logits = self.model(input_ids=ids.to(device)).logits[0, -1].float()  # [vocab]
        logprobs = torch.log_softmax(logits, dim=-1)
        return float(logprobs[self.letters[0]] - logprobs[self.letters[1]])


def judge_pairs(
    judge: PairwiseJudge, rows: Sequence[dict], *, swap_positions: bool = True
) -> dict[str, Any]:
    """Preference rows (prompt, chosen, rejected) as a human-labelled set: how often the judge agrees
    that the chosen answer is the better one, with and without the second order."""
    verdicts = [judge.compare(r["prompt"], r["chosen"], r["rejected"], swap_positions=swap_positions)
                for r in rows]
    agree = sum(v.prefers_first for v in verdicts)
    first_order_agree = sum(v.order_margins[0] > 0 for v in verdicts)
    return {
        "pairs": len(rows),
        "agreement": agree / len(rows),
        "agreement_first_order_only": first_order_agree / len(rows),
        "position_bias": _position_bias(verdicts),
        "margins": [round(v.margin, 4) for v in verdicts],
    }


def _position_bias(verdicts: Sequence[Verdict]) -> float | None:
    """The mean pull towards answer A (nats): half the sum of the two orders' raw margins."""
    swapped = [v for v in verdicts if len(v.order_margins) == 2]
    if not swapped:
        return None
    return sum((v.order_margins[0] - v.order_margins[1]) / 2 for v in swapped) / len(swapped)


def check_judge(spec: Any) -> None:
    """Refuse a judge that cannot run before any model loads (``spec``: an EvaluateSpec)."""
    from trainers.evaluation.data import check_dataset
    from trainers.evaluation.models import check_evaluated
    from trainers.spec import SpecError

    if spec.judge.model is not None and check_evaluated(spec.judge.model, "judge") != "causal_lm":
        raise SpecError("judge.model: a judge must be a language model (it answers A or B)")
    if spec.judge.labelled is not None:
        check_dataset(spec.judge.labelled, "judge.labelled", ("preference",))
    elif not spec.prompts:
        raise SpecError("judge: give prompts for the two models to answer, or labelled pairs to judge")


def run_judge(spec: Any, base_answers: Sequence[str], candidate_answers: Sequence[str]) -> dict:
    """The judge's verdicts on each prompt's two answers (candidate first), and its agreement with the
    labelled pairs; one judge model loaded, after the evaluated ones are gone."""
    from trainers.evaluation.data import read_rows
    from trainers.evaluation.models import load_evaluated

    given = spec.judge
    if given.endpoint is not None:
        from trainers.evaluation.judge_endpoint import EndpointJudge

        judge: PairwiseJudge = EndpointJudge(given.endpoint, given.rubric)
        label = f"{given.endpoint.model} (OpenAI-compatible endpoint)"
    else:
        loaded = load_evaluated(given.model, "causal_lm")
        judge, label = Judge(loaded.model, loaded.tokenizer, given.rubric), loaded.label
    verdicts = [
        judge.compare(prompt, candidate, base, swap_positions=given.swap_positions)
        for prompt, base, candidate in zip(spec.prompts, base_answers, candidate_answers, strict=False)
    ]
    report: dict[str, Any] = {
        "judge": label,
        "rubric": given.rubric,
        "swap_positions": given.swap_positions,
        "candidate_win_rate": sum(v.prefers_first for v in verdicts) / len(verdicts) if verdicts else None,
        "position_bias": _position_bias(verdicts),
        "verdicts": [
            {"prompt": p, "winner": "candidate" if v.prefers_first else "base", "margin": round(v.margin, 4)}
            for p, v in zip(spec.prompts, verdicts, strict=False)
        ],
    }
    if given.labelled is not None:
        rows = read_rows(given.labelled, spec.max_rows)
        report["labelled"] = judge_pairs(judge, rows, swap_positions=given.swap_positions)
    return report
