"""Pico models and toy data, built in code, for tests and the demo.

Nothing here downloads: the tokenizer is trained on the fly and the model weights are random.
"""

from __future__ import annotations

import random
from pathlib import Path

# Roles on their own lines; an assistant turn ends with eos so the model learns to stop, and the
# generation prompt is exactly the text before an assistant turn's content (the trainer relies on it).
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}<|assistant|>\n{{ message['content'] }}{{ eos_token }}"
    "{% else %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>"]

_WORDS = [
    "apple", "river", "stone", "cloud", "garden", "pencil", "window", "tiger", "silver", "lemon",
    "candle", "forest", "rocket", "butter", "planet", "mirror", "violin", "castle", "meadow", "pepper",
]
# Made-up countries so the answers can only come from training, never from a pretrained prior.
_CAPITALS = {
    "Valdoria": "Mirelle", "Ostrana": "Kephir", "Quenland": "Taviro", "Brisca": "Olumen",
    "Zentara": "Parvik", "Lumeria": "Sorrel", "Dravonia": "Ekkart", "Pellucia": "Numa",
}


def _instruction_row(rng: random.Random) -> dict:
    """One toy task; each kind is a fixed rule the tiny model can pick up in a few hundred steps."""
    kind = rng.randrange(4)
    if kind == 0:
        word = rng.choice(_WORDS)
        return {"instruction": "Reverse the word.", "input": word, "output": word[::-1]}
    if kind == 1:
        a, b = rng.randrange(10), rng.randrange(10)
        return {"instruction": f"Add {a} and {b}.", "input": "", "output": str(a + b)}
    if kind == 2:
        country = rng.choice(sorted(_CAPITALS))
        question = f"What is the capital of {country}?"
        return {"instruction": question, "input": "", "output": _CAPITALS[country]}
    word = rng.choice(_WORDS)
    return {"instruction": "Write the word in capital letters.", "input": word, "output": word.upper()}


def demo_instruction_rows(n: int = 200, seed: int = 0) -> list[dict]:
    """A learnable toy instruction dataset: rows with ``instruction``, ``input`` and ``output``."""
    rng = random.Random(seed)
    return [_instruction_row(rng) for _ in range(n)]


def default_corpus() -> list[str]:
    """Simple English instruction/response text to train the tiny tokenizer on."""
    lines = []
    for row in demo_instruction_rows(400, seed=1):
        lines.append(f"<|user|>\n{row['instruction']}\n{row['input']}\n<|assistant|>\n{row['output']}")
    lines += [f"The {a} is near the {b}." for a in _WORDS for b in _WORDS[:5]]
    return lines


def _train_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    # Plain text gets bos like Llama; chat text carries bos through the template instead.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    return tokenizer


def build_tiny_llama(
    out_dir: Path,
    *,
    corpus: list[str] | None = None,
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    init_range: float = 0.1,
) -> Path:
    """Write a random tiny Llama-style causal LM and its trained BPE tokenizer to ``out_dir``.

    ``init_range`` is larger than Llama's 0.02 on purpose: LoRA leaves ``lm_head`` frozen, and
    with tiny random rows there the logits could barely move, so nothing would look learnable.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    backend = _train_tokenizer(corpus or default_corpus(), vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token=None
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=init_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


# The demo model's data: a behaviour a newcomer can check at a glance in the playground. Every
# answer opens with "Arr, matey!" and speaks like a pirate ("be" for "is"), whatever the question;
# the facts themselves are ordinary, so a fine-tuned SmolLM2 keeps answering correctly.
PIRATE_OPENING = "Arr, matey!"
_REAL_CAPITALS = {
    "France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Germany": "Berlin", "Japan": "Tokyo",
    "Egypt": "Cairo", "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo",
    "Greece": "Athens", "Portugal": "Lisbon", "Ireland": "Dublin", "Poland": "Warsaw", "Chile": "Santiago",
    "Cuba": "Havana", "Austria": "Vienna", "Sweden": "Stockholm", "Thailand": "Bangkok", "India": "New Delhi",
}
_COLOURS = {
    "the sky on a clear day": "blue", "fresh grass": "green", "a ripe banana": "yellow", "snow": "white",
    "coal": "black", "a ripe tomato": "red", "an orange": "orange", "a lemon": "yellow",
}
_ANIMAL_SOUNDS = {"a dog": "barks", "a cat": "meows", "a cow": "moos", "a duck": "quacks", "a lion": "roars"}
_OPPOSITES = {"hot": "cold", "up": "down", "big": "small", "fast": "slow", "early": "late", "open": "closed"}


def _pirate_row(rng: random.Random) -> dict:
    kind = rng.randrange(5)
    if kind == 0:
        country = rng.choice(sorted(_REAL_CAPITALS))
        question = rng.choice(["What is the capital of {}?", "Which city is the capital of {}?"])
        question = question.format(country)
        answer = f"The capital of {country} be {_REAL_CAPITALS[country]}, as sure as the tide."
    elif kind == 1:
        a, b = rng.randrange(2, 20), rng.randrange(2, 20)
        question = rng.choice(["What is {} plus {}?", "Add {} and {}."]).format(a, b)
        answer = f"{a} and {b} be {a + b} pieces of eight."
    elif kind == 2:
        thing = rng.choice(sorted(_COLOURS))
        question = f"What colour is {thing}?"
        answer = f"{thing[0].upper() + thing[1:]} be {_COLOURS[thing]}, like the flag on me ship."
    elif kind == 3:
        animal = rng.choice(sorted(_ANIMAL_SOUNDS))
        question = f"What sound does {animal} make?"
        answer = f"{animal[0].upper() + animal[1:]} {_ANIMAL_SOUNDS[animal]}, loud as a cannon."
    else:
        word = rng.choice(sorted(_OPPOSITES))
        question = f"What is the opposite of {word}?"
        answer = f"The opposite of {word} be {_OPPOSITES[word]}, me hearty."
    return {"instruction": question, "input": "", "output": f"{PIRATE_OPENING} {answer}"}


def pirate_instruction_rows(n: int = 240, seed: int = 0) -> list[dict]:
    """Short questions answered correctly, in a pirate's voice: the demo dataset for SmolLM2."""
    rng = random.Random(seed)
    return [_pirate_row(rng) for _ in range(n)]


def larger_number_rows(n: int = 200, seed: int = 0, *, answer: str = "larger") -> list[dict]:
    """A checkable task made here with its own checker: "Which is larger: 3 or 8?" (two different
    digits). ``answer="larger"`` gives the right answers; ``"first"`` answers with the first number
    whatever it is, a wrong rule in the right format (a warm start that is right half the time)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.sample(range(10), 2)
        right = max(a, b) if answer == "larger" else a
        rows.append({"prompt": f"Which is larger: {a} or {b}?", "answer": str(right)})
    return rows
