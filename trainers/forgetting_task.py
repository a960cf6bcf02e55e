"""The forgetting report's multiple-choice task: a small harness task measured before and after
training, next to retention perplexity (trainers/forgetting.py).

The team chooses it: Hone's built-in general-knowledge questions (below, shipped with Hone), or one
of its own multiple-choice datasets. Either is written as a harness task by the harness code
(trainers/evaluation/harness.py) and scored by ``lm_eval`` the same way an evaluate job scores it
(accuracy over the choices' log-likelihoods), so the numbers compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainers.evaluation.harness import (
    PreparedHarness,
    multiple_choice_task,
    run_harness,
    write_uploaded_task,
)
from trainers.spec import DatasetRef
from trainers.spec_evaluate import HarnessParams

TASK = "hone_retention"
# Facts any general-purpose model has read many times; none is about a user's training data.
BUILTIN_QUESTIONS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("What is the capital of France?", ("Berlin", "Paris", "Madrid", "Rome"), 1),
    ("How many days are there in a week?", ("five", "six", "seven", "eight"), 2),
    ("Which planet do we live on?", ("Mars", "Venus", "Earth", "Jupiter"), 2),
    ("What colour is a clear daytime sky?", ("green", "blue", "red", "black"), 1),
    ("What is water made of?", ("hydrogen and oxygen", "iron and carbon", "salt and sand", "helium"), 0),
    ("Which animal barks?", ("a cat", "a dog", "a fish", "a bird"), 1),
    ("What is two plus two?", ("three", "four", "five", "six"), 1),
    ("Which season comes after winter?", ("autumn", "summer", "spring", "winter"), 2),
    ("What do bees make?", ("milk", "honey", "silk", "wool"), 1),
    ("Where does the sun rise?", ("in the west", "in the north", "in the east", "in the south"), 2),
    ("What do plants need to grow?", ("darkness and ice", "light and water", "oil and smoke", "noise"), 1),
    ("How many legs does a spider have?", ("four", "six", "eight", "ten"), 2),
    ("Which is the largest ocean on Earth?", ("the Atlantic", "the Indian", "the Arctic", "the Pacific"), 3),
    ("What does a thermometer measure?", ("weight", "temperature", "length", "time"), 1),
    ("Which gas do people breathe in to live?", ("oxygen", "neon", "carbon monoxide", "argon"), 0),
    ("What is frozen water called?", ("steam", "ice", "fog", "sand"), 1),
    ("How many hours are there in a day?", ("twelve", "twenty", "twenty-four", "thirty"), 2),
    ("Which body part do people use to see?", ("the ears", "the eyes", "the nose", "the knees"), 1),
    ("Which metal is liquid at room temperature?", ("iron", "mercury", "gold", "copper"), 1),
    ("Who wrote the play Romeo and Juliet?", ("Charles Dickens", "William Shakespeare", "Jane Austen",
                                             "Mark Twain"), 1),
    ("What is the boiling point of water at sea level?", ("50 °C", "75 °C", "100 °C", "150 °C"), 2),
    ("Which shape has three sides?", ("a square", "a circle", "a triangle", "a hexagon"), 2),
    ("What language is mostly spoken in Spain?", ("Spanish", "German", "Japanese", "Swedish"), 0),
    ("Which instrument has black and white keys?", ("the drum", "the violin", "the piano", "the flute"), 2),
)


def prepare_retention_task(dataset: DatasetRef | None, work_dir: Path) -> PreparedHarness:
    """The task as harness files in ``work_dir``: the team's dataset (checked against its sha256;
    SpecError or DataError naming it) or the built-in questions."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if dataset is not None:
        source = write_uploaded_task(dataset, TASK, work_dir, 0)
        return PreparedHarness([str(work_dir)], [TASK], {TASK: source})
    data = work_dir / f"{TASK}.jsonl"
    rows = [{"question": q, "choices": list(c), "answer": a} for q, c, a in BUILTIN_QUESTIONS]
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    (work_dir / f"{TASK}.yaml").write_text(json.dumps(multiple_choice_task(TASK, data), indent=1), "utf-8")
    return PreparedHarness([str(work_dir)], [TASK], {TASK: "built-in general-knowledge questions"})


def choice_accuracy(model: Any, tokenizer: Any, prepared: PreparedHarness) -> float:
    """The share of questions whose right choice the model finds likeliest (the harness's ``acc``)."""
    was_training = model.training
    model.eval()
    try:
        scores = run_harness(model, tokenizer, prepared, HarnessParams(), chat_template=False)
    finally:
        model.train(was_training)
    return scores[TASK]["acc"]
