"""OpenAI's reinforcement graders as rewards from Hone's registry (``trainers.rewards.registry``).

Hone's GRPO scores each sampled answer against one reference per row (the row's answer), with
plain functions from the registry; no user code runs. So a grader maps when it compares
``{{sample.output_text}}`` with one ``{{item.<field>}}`` in a way a registry reward does:

- ``string_check`` with ``operation: "eq"`` → ``exact_match`` with ``case_sensitive: true``. Hone
  compares the answer's final part (after ``<answer>`` tags or an "Answer:" marker) and leaves out
  punctuation and spacing, so "Paris." matches "Paris"; OpenAI compares the text exactly.
- ``like`` / ``ilike`` → ``contains`` (the whole answer holds the reference; case counts for ``like``).
- ``multi`` whose ``calculate_output`` is a weighted sum of its graders (``0.7 * a + 0.3 * b``) →
  each grader's reward with that weight (GRPO's total is the weighted sum of its rewards); graders
  that are the same check add their weights.

Everything else is refused naming the grader's place (``method.reinforcement.grader.operation``):
``ne`` (it rewards every wrong answer alike), ``text_similarity`` (no such reward in the registry),
``score_model`` (a prompted grader model; Hone's reward model is a classifier, native API only),
``python`` (no user code runs in Hone), graders of
different fields (one reference per row), and a ``calculate_output`` that is not a weighted sum.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from api.openai_compat.errors import InvalidRequest

AT = "method.reinforcement.grader"
SAMPLE = "{{sample.output_text}}"
ITEM = re.compile(r"^\{\{\s*item\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
MAX_GRADERS = 8
REFUSED = {
    "python": "python graders run user code, and no user code runs in Hone; score with string_check "
    "(exact match) against a field of each row instead",
    "score_model": "score_model grades with a prompted language model, which Hone's rewards do not do "
    "(its reward model is a classifier the team trained: reward 'classifier' in /api/v1/jobs); score "
    "with string_check (exact match) against a field of each row instead",
    "text_similarity": "Hone's reward registry has no text-similarity reward (fuzzy_match, BLEU, ROUGE, "
    "cosine) yet; use string_check with operation 'eq'",
}
OPERATIONS = {  # operation -> the reward it maps to
    "eq": {"name": "exact_match", "params": {"case_sensitive": True}},
    "like": {"name": "contains", "params": {"case_sensitive": True}},
    "ilike": {"name": "contains", "params": {"case_sensitive": False}},
}
NE = "'ne' rewards every answer but the reference, which teaches nothing about the task"


@dataclass(frozen=True)
class Mapped:
    """The grader as Hone rewards (``grpo.rewards`` entries) and the row field they score against."""

    rewards: list[dict]
    field: str  # the training rows' field named by {{item.<field>}}
    places: dict  # ("grpo", "rewards", i) -> the grader's place, for the launch path's problems


def rewards_of(grader: object) -> Mapped:
    """The rewards ``grader`` maps to, or InvalidRequest naming the place that does not map."""
    if not isinstance(grader, dict):
        raise InvalidRequest(
            f"{AT} is required for method.type 'reinforcement': an object like "
            '{"type": "string_check", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", '
            '"operation": "eq"}.',
            param=AT,
            code="missing_required_parameter" if grader is None else None,
        )
    if grader.get("type") == "multi":
        return _multi(grader)
    field = _single(grader, AT)
    return Mapped([_reward_of(grader)], field, {("grpo", "rewards"): AT})


def _single(grader: dict, at: str) -> str:
    """The row field a ``string_check`` scores against, once its type and operation map."""
    kind = grader.get("type")
    if kind in REFUSED:
        raise InvalidRequest(f"{at}.type '{kind}' cannot run in Hone: {REFUSED[kind]}.", param=f"{at}.type",
                             code="unsupported_grader")  # fmt: skip
    if kind != "string_check":
        known = "string_check, multi (refused: text_similarity, score_model, python)"
        raise InvalidRequest(f"{at}.type must be one of {known}, got {kind!r}.", param=f"{at}.type")
    operation = grader.get("operation")
    if operation == "ne":
        raise InvalidRequest(
            f"{at}.operation 'ne' does not map onto a Hone reward: {NE}; use 'eq', 'like' or 'ilike'.",
            param=f"{at}.operation",
            code="unsupported_grader",
        )
    if operation not in OPERATIONS:
        raise InvalidRequest(f"{at}.operation must be 'eq', 'ne', 'like' or 'ilike', got {operation!r}.",
                             param=f"{at}.operation")  # fmt: skip
    return _reference_field(grader, at)


def _reference_field(grader: dict, at: str) -> str:
    """``item.<field>`` of a check between the sample's text and one field of the row (either way round)."""
    given = {side: grader.get(side) for side in ("input", "reference")}
    sample_side = next((side for side, value in given.items() if _is_sample(value)), None)
    if sample_side is None:
        raise InvalidRequest(
            f"{at}.input must be {SAMPLE!r}: Hone scores the sampled answer's text, got {given['input']!r}.",
            param=f"{at}.input",
        )
    other = "reference" if sample_side == "input" else "input"
    found = ITEM.match(given[other]) if isinstance(given[other], str) else None
    if found is None:
        raise InvalidRequest(
            f"{at}.{other} must name one field of the training rows like '{{{{item.answer}}}}', got "
            f"{given[other]!r}: Hone compares each answer with its own row's reference.",
            param=f"{at}.{other}",
        )
    return found.group(1)


def _is_sample(value: object) -> bool:
    return isinstance(value, str) and value.replace(" ", "") == SAMPLE


def _reward_of(grader: dict, weight: float = 1.0) -> dict:
    """The registry reward of a checked ``string_check``."""
    reward = OPERATIONS[grader["operation"]]
    return {"name": reward["name"], "weight": weight, "params": dict(reward["params"])}


def _multi(grader: dict) -> Mapped:
    graders = grader.get("graders")
    if not isinstance(graders, dict) or not 1 <= len(graders) <= MAX_GRADERS:
        raise InvalidRequest(f"{AT}.graders must be an object of 1 to {MAX_GRADERS} named graders.",
                             param=f"{AT}.graders")  # fmt: skip
    fields: dict[str, str] = {}
    for name, inner in graders.items():
        at = f"{AT}.graders.{name}"
        if not isinstance(inner, dict) or inner.get("type") == "multi":
            raise InvalidRequest(f"{at} must be a grader object, not another multi.", param=at)
        fields[name] = _single(inner, at)
    weights = weighted_sum(grader.get("calculate_output"), set(graders))
    if len(set(fields.values())) > 1:
        raise InvalidRequest(
            f"{AT}.graders reference different fields ({', '.join(sorted(set(fields.values())))}): Hone "
            "scores every answer against one reference per row; reference one field.",
            param=f"{AT}.graders",
        )
    rewards: dict[tuple, dict] = {}  # graders that are the same check add their weights
    places: dict[tuple, str] = {("grpo", "rewards"): f"{AT}.graders"}
    for name, weight in weights.items():
        reward = _reward_of(graders[name])
        key = (reward["name"], tuple(sorted(reward["params"].items())))
        if key in rewards:
            rewards[key]["weight"] += weight
            continue
        places[("grpo", "rewards", len(rewards))] = f"{AT}.graders.{name}"
        rewards[key] = {**reward, "weight": weight}
    return Mapped(list(rewards.values()), fields[next(iter(weights))], places)


def weighted_sum(formula: object, names: set[str]) -> dict[str, float]:
    """``{grader: weight}`` of a ``calculate_output`` that is a sum of (number ×) grader names."""
    at = f"{AT}.calculate_output"
    problem = "must be a weighted sum of the graders' names like '0.7 * a + 0.3 * b'"
    try:
        tree = ast.parse(formula, mode="eval").body if isinstance(formula, str) else None
    except SyntaxError:
        tree = None
    if tree is None:
        raise InvalidRequest(f"{at} {problem}, got {formula!r}.", param=at)
    weights: dict[str, float] = {}
    for sign, term in _terms(tree, 1.0):
        name, weight = _term(term)
        if name is None or name not in names:
            what = f"'{name}' is not one of its graders" if name else f"{ast.unparse(term)!r} is not a term"
            raise InvalidRequest(f"{at} {problem}; {what} ({', '.join(sorted(names))}).", param=at,
                                 code="unsupported_grader")  # fmt: skip
        weights[name] = weights.get(name, 0.0) + sign * weight
    return weights


def _terms(node: ast.expr, sign: float) -> list[tuple[float, ast.expr]]:
    """The added (and subtracted) terms of a sum, each with its sign."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        right = sign if isinstance(node.op, ast.Add) else -sign
        return _terms(node.left, sign) + _terms(node.right, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _terms(node.operand, -sign)
    return [(sign, node)]


def _term(node: ast.expr) -> tuple[str | None, float]:
    """(grader name, weight) of ``a``, ``0.5 * a``, ``a * 0.5`` or ``a / 2``; (None, 0) otherwise."""
    if isinstance(node, ast.Name):
        return node.id, 1.0
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
        left, right = node.left, node.right
        if isinstance(node.op, ast.Mult) and isinstance(left, ast.Constant):
            left, right = right, left
        if isinstance(left, ast.Name) and isinstance(right, ast.Constant) and _number(right.value):
            value = float(right.value)
            if isinstance(node.op, ast.Div):
                return (left.id, 1.0 / value) if value else (None, 0.0)
            return left.id, value
    return None, 0.0


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
