"""Tokenizer metadata for GGUF, the way llama.cpp's convert_hf_to_gguf.py writes it for Llama models.

Two kinds of tokenizer are supported, as llama.cpp reads them:

- SentencePiece-style BPE (Llama 2, Mistral, TinyLlama: byte fallback, ``▁`` for spaces):
  ``tokenizer.ggml.model = "llama"`` with tokens, scores and token types, read by gguf's own
  ``LlamaHfVocab`` from tokenizer.json.
- Byte-level BPE (GPT-2 style, Llama 3): ``tokenizer.ggml.model = "gpt2"`` with tokens, token
  types and merges, and ``tokenizer.ggml.pre`` naming how text is split before BPE ("gpt-2" or
  "llama-bpe"); llama.cpp refuses a pre-tokenizer it does not know, so any other is refused here.

Both add the special token ids (bos, eos, unk, pad), whether bos/eos are added, and the chat
template, through gguf's ``SpecialVocab`` (the code convert_hf_to_gguf.py uses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf

from trainers.spec import SpecError

# The pre-tokenizer regex of Llama 3's tokenizer.json; llama.cpp calls this split "llama-bpe".
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def check_tokenizer(model_dir: Path) -> gguf.LlamaHfVocab | str:
    """SentencePiece-style: gguf's vocabulary reader; byte-level: llama.cpp's pre-tokenizer name."""
    tokenizer_json = model_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise SpecError(
            "outputs: GGUF export reads the tokenizer from tokenizer.json (a fast tokenizer), which this "
            "model directory lacks; save the tokenizer with transformers first, or export torchao only"
        )
    try:
        return gguf.LlamaHfVocab(model_dir)
    except (TypeError, FileNotFoundError):  # not SentencePiece-style: byte-level BPE
        return pre_tokenizer_name(json.loads(tokenizer_json.read_text(encoding="utf-8")))


def add_tokenizer(writer: gguf.GGUFWriter, model_dir: Path, vocab_size: int) -> str:
    """Write the tokenizer keys; returns ``tokenizer.ggml.model`` ("llama" or "gpt2")."""
    vocab = check_tokenizer(model_dir)
    if isinstance(vocab, str):
        return _add_byte_level(writer, model_dir, vocab, vocab_size)
    tokens, scores, types = zip(*vocab.all_tokens(), strict=True)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(list(tokens))
    writer.add_token_scores(list(scores))
    writer.add_token_types(list(types))
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    return "llama"


def pre_tokenizer_name(tokenizer: dict) -> str:
    """llama.cpp's name for how this byte-level tokenizer splits text, or SpecError."""
    pre = tokenizer.get("pre_tokenizer") or {}
    if tokenizer.get("normalizer") is None:
        if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
            return "gpt-2"
        steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
        if (
            len(steps) == 2
            and steps[0].get("type") == "Split"
            and steps[0].get("pattern", {}).get("Regex") == LLAMA3_SPLIT
            and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)
        ):
            return "llama-bpe"
    raise SpecError(
        "outputs: this tokenizer splits text in a way llama.cpp does not know (only GPT-2's and Llama 3's "
        "byte-level splits and SentencePiece-style vocabularies are supported), so a GGUF file would not "
        "load; export torchao instead"
    )


def _add_byte_level(writer: gguf.GGUFWriter, model_dir: Path, pre: str, vocab_size: int) -> str:
    from transformers import AutoTokenizer

    tokens, types = byte_level_tokens(AutoTokenizer.from_pretrained(model_dir), vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size).add_to_gguf(writer, quiet=True)
    return "gpt2"


def byte_level_tokens(tokenizer: Any, vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens by id (padding ids the model has but the tokenizer lacks) and their llama.cpp types."""
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    if max(by_id) >= vocab_size:
        raise SpecError(
            f"model: the tokenizer has ids up to {max(by_id)} but the model only {vocab_size} rows"
        )
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(by_id[index])
            looks_special = added[index].special or _looks_special(by_id[index])
            types.append(gguf.TokenType.CONTROL if looks_special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.NORMAL)
    return tokens, [int(t) for t in types]


def _looks_special(token: str) -> bool:
    return (token.startswith("<|") and token.endswith("|>")) or token in ("<pad>", "<mask>")
