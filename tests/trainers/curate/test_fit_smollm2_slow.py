"""Fit under a real model (SmolLM2-135M-Instruct, the demo model's weights): what the tiny random
model cannot show. Among answers to one prompt the natural one is kept (GRAPE's rule), and the
band drops garbled answers as too far from the model. Slow (`make test-slow`)."""

from __future__ import annotations

import pytest

from tests.trainers.test_smollm2_slow import smollm2_dir  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow

NATURAL = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How many days are in a week?", "There are seven days in a week."),
    ("What colour is the sky on a clear day?", "On a clear day the sky is blue."),
    ("What do bees make?", "Bees make honey from the nectar of flowers."),
    ("What is water made of?", "Water is made of hydrogen and oxygen."),
    ("Which animal is known as man's best friend?", "The dog is known as man's best friend."),
    ("What season comes after winter?", "Spring comes after winter."),
    ("How many legs does a spider have?", "A spider has eight legs."),
]
GARBLED = "qzx vlorp tinquam sef broodle waxt ump kefflor"


def test_the_natural_answer_fits_and_garbled_ones_are_too_far(curate, smollm2_dir):  # noqa: F811
    rows = [{"instruction": q, "output": a} for q, a in NATURAL]
    rows.append({"instruction": NATURAL[0][0], "output": "Paris capital France the of is it yes."})
    rows += [{"instruction": q, "output": GARBLED} for q in ("Name a fruit.", "Say hello.")]
    result = curate(
        [rows],
        fit={"drop_easiest_percent": 0, "drop_hardest_percent": 20},
        tokenizer={"name": "SmolLM2-135M-Instruct", "path": str(smollm2_dir)},
    )
    reasons = result.reasons()
    assert reasons[0] == "kept" and reasons[8] == "worse_fit"  # GRAPE keeps the natural answer
    assert reasons[9] == reasons[10] == "too_far"  # the garbled answers are the two highest losses
    losses = [row["fit_loss"] for row in result.table]
    assert max(losses[:8]) < min(losses[9:])
