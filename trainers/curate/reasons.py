"""Why a row was kept or dropped: one name per reason, in the words the result page shows."""

from __future__ import annotations

# name -> (kept?, plain words). The order is the order the result page lists them in.
REASONS: dict[str, tuple[bool, str]] = {
    "kept": (True, "kept"),
    "relabelled": (True, "kept with its label corrected"),
    "label_suspect": (True, "kept, but its label looks wrong (listed only)"),
    "contaminated": (False, "also in the evaluation set (contamination)"),
    "exact_duplicate": (False, "exact duplicate of an earlier row"),
    "near_duplicate": (False, "near duplicate of an earlier row"),
    "empty_answer": (False, "empty answer"),
    "too_short": (False, "too short"),
    "too_long": (False, "too long"),
    "repetitive": (False, "repeats itself"),
    "truncated_answer": (False, "answer cut off"),
    "wrong_language": (False, "not in the chosen languages"),
    "label_issue": (False, "label looks wrong"),
    "hard_to_tell": (False, "its text looks more like another label (lowest cross-validated margin)"),
    "too_obvious": (False, "the most obvious of its label (highest margin): little to learn"),
    "worse_fit": (False, "another answer to the same prompt fits the model better"),
    "too_easy": (False, "the model already writes this (lowest loss)"),
    "too_far": (False, "too far from what the model knows (highest loss)"),
    "over_budget": (False, "not selected within the budget"),
}


def is_kept(reason: str) -> bool:
    return REASONS[reason][0]


def words(reason: str) -> str:
    return REASONS.get(reason, (False, reason.replace("_", " ")))[1]
