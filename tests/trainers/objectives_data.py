"""Generated datasets for the objective tests, and running a train spec in this process."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from tests.trainers.conftest import make_spec, write_jsonl

POSITIVE = ["wonderful", "great", "excellent", "lovely", "delightful", "superb", "fantastic", "charming"]
NEGATIVE = ["terrible", "awful", "horrible", "dreadful", "disappointing", "boring", "nasty", "painful"]
NEUTRAL = ["average", "ordinary", "typical", "standard", "unremarkable", "routine", "plain", "regular"]
NOUNS = ["film", "meal", "hotel", "service", "book", "concert", "trip", "lesson", "game", "show"]
TEMPLATES = [
    "The {noun} was {adj}.",
    "I thought the {noun} was {adj} and {adj2}.",
    "What a {adj} {noun}, honestly.",
    "Our {noun} turned out {adj}.",
    "My friends said the {noun} felt {adj}.",
]
LABEL_WORDS = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}


def sentiment_rows(n: int, seed: int = 0, noise: float = 0.08) -> list[dict]:
    """Sentences whose adjectives carry the label, in uneven class shares (majority ~40%); a share
    ``noise`` of the labels is replaced by a random one, so 100% is not reachable."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choices(["positive", "negative", "neutral"], weights=[0.4, 0.3, 0.3])[0]
        words = LABEL_WORDS[label]
        adjectives = {"adj": rng.choice(words), "adj2": rng.choice(words)}
        text = rng.choice(TEMPLATES).format(noun=rng.choice(NOUNS), **adjectives)
        if rng.random() < noise:
            label = rng.choice(sorted(LABEL_WORDS))
        rows.append({"text": text, "label": label})
    return rows


def preference_rows(n: int, seed: int = 0) -> list[dict]:
    """Reverse-a-word prompts: the right answer is chosen, a made-up wrong one rejected."""
    from trainers.tiny import _WORDS

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        word = rng.choice(_WORDS)
        wrong = rng.choice([w for w in _WORDS if w != word])
        rows.append({"prompt": f"Reverse the word {word}:", "chosen": word[::-1], "rejected": wrong})
    return rows


def text_rows(n: int) -> list[dict]:
    from trainers.tiny import default_corpus

    lines = default_corpus()
    return [{"text": " ".join(lines[i * 3:(i + 1) * 3])} for i in range(n)]


def objective_spec(model_dir: Path, tmp: Path, rows: list[dict], task: str, objective: str, **over) -> dict:
    data = write_jsonl(tmp / f"{task}.jsonl", rows)
    training = {"epochs": 1, "batch_size": 8, "max_seq_length": 48, "evals_per_run": 1,
                "checkpoints_per_run": 0, "learning_rate": 3e-3, **over.pop("training", {})}
    spec = make_spec(model_dir, data, tmp / "output", objective=objective, training=training, **over)
    spec["dataset"]["task"] = task
    return spec


def run_in_process(spec: dict) -> list[dict]:
    """Validate and run a train spec here, as ``python -m trainers run`` would; its events."""
    from trainers.cli import EXIT_OK, run_job
    from trainers.events import EventEmitter
    from trainers.spec import parse_spec

    out = io.StringIO()
    emitter = EventEmitter(out)
    code = run_job(parse_spec(spec), emitter)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == EXIT_OK, events[-1]
    return events


def metrics(events: list[dict], name: str, split: str) -> list[float | None]:
    return [e["value"] for e in events if e["kind"] == "metric" and e["name"] == name and e["split"] == split]


def of_kind(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["kind"] == kind]
