"""A small Llama trained in the test session on a learnable toy text, so its weights are not random.

Quantization quality only means something on trained weights: random ones have no structure for
GPTQ to preserve. The toy language is a few sentence patterns over a small vocabulary; a few
hundred steps of plain torch take the model from perplexity ~500 to ~3.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
import torch

from tests.trainers.conftest import write_jsonl

NAMES = ["anna", "ben", "cara", "dev", "eli", "fay", "gus", "hana"]
THINGS = ["apple", "river", "stone", "cloud", "garden", "pencil", "window", "tiger", "lemon", "candle"]


def toy_sentence(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randrange(10), rng.randrange(10)
        return f"{a} plus {b} is {a + b}."
    if kind == 1:
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        return f"{name} has a {thing} and the {thing} is near {rng.choice(NAMES)}."
    word = rng.choice(THINGS)
    return f"spell {word}: {' '.join(word)}."


def toy_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(toy_sentence(rng) for _ in range(4)) for _ in range(n)]


def dataset_ref(path: Path, task: str = "text") -> dict:
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "format": "jsonl",
        "task": task,
    }


def mean_kl_to(original: Path, quantized: Path, texts: list[str]) -> float:
    """Mean per-token KL(original ‖ quantized) of the next-token distributions on ``texts``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(original)
    reference = AutoModelForCausalLM.from_pretrained(original).eval()
    candidate = AutoModelForCausalLM.from_pretrained(quantized).eval()  # torchao int4, loaded back
    total = 0.0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            p = torch.log_softmax(reference(input_ids=ids).logits.float(), dim=-1)
            q = torch.log_softmax(candidate(input_ids=ids).logits.float(), dim=-1)
            total += (p.exp() * (p - q)).sum(dim=-1).mean().item()
    return total / len(texts)


def train_tiny(model_dir: Path, texts: list[str], steps: int, seq_len: int = 48, batch: int = 16) -> Path:
    """Plain next-token training, saved back over ``model_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    stream = [i for text in texts for i in tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]]
    data = torch.tensor(stream)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(data) - seq_len, (batch,), generator=generator)
        ids = torch.stack([data[s : s + seq_len] for s in starts])
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def toy_corpus() -> list[str]:
    from trainers.tiny import default_corpus

    return toy_texts(300, seed=1) + default_corpus()[:50]


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory, toy_corpus: list[str]) -> Path:
    from trainers.tiny import build_tiny_llama

    model_dir = build_tiny_llama(
        tmp_path_factory.mktemp("models") / "trained",
        corpus=toy_corpus,
        hidden_size=64,
        layers=2,
        init_range=0.02,
    )
    return train_tiny(model_dir, toy_texts(400, seed=2), steps=300)


@pytest.fixture(scope="session")
def held_out_texts() -> list[str]:
    return toy_texts(40, seed=3)


@pytest.fixture(scope="session")
def toy_text_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [{"text": text} for text in toy_texts(200, seed=4)]
    return write_jsonl(tmp_path_factory.mktemp("data") / "toy.jsonl", rows)


def write_config(model_dir: Path, **changes: object) -> None:
    config_file = model_dir / "config.json"
    config = json.loads(config_file.read_text())
    config.update(changes)
    config_file.write_text(json.dumps(config))
