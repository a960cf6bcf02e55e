"""The tokenizer checks a merge passes before any work, and whose tokenizer the output keeps.

The vocabulary (every token's id) must match across inputs (compat.check_tokenizers): otherwise the
embedding rows of one model mean other tokens in another, and no choice of tokenizer fixes that.
The tokenizer's settings — its chat template and special tokens (bos, eos, pad, unk) — may differ,
but then the merge is refused unless ``tokenizer_source`` says whose the output keeps: "base" or
a model's index. The models are compared with each other, not with the base: by default the output
keeps the first model's tokenizer (card.tokenizer_dir), and an adapter Hone trained saves the chat
template it was trained with, which its base may well lack. Inputs without tokenizer files (most
adapters) are skipped: they take their base's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.merge.inputs import TOKENIZER_FILES, Input, ModelDir
from trainers.spec import SpecError

if TYPE_CHECKING:
    from trainers.spec_merge import MergeSpec

SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")


def _token_text(value: object) -> object:
    return value.get("content") if isinstance(value, dict) else value


def tokenizer_settings(path: Path) -> dict | None:
    """The chat template and special tokens saved in ``path``; None where no tokenizer files are."""
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        return None
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    template = config.get("chat_template")
    if (path / "chat_template.jinja").is_file():
        template = (path / "chat_template.jinja").read_text(encoding="utf-8")
    elif (path / "chat_template.json").is_file():
        template = json.loads((path / "chat_template.json").read_text(encoding="utf-8")).get("chat_template")
    settings = {"chat template": template}
    settings.update({name: _token_text(config.get(name)) for name in SPECIAL_TOKENS})
    return settings


def check_tokenizer_settings(spec: MergeSpec, models: list[Input]) -> None:
    """Refuse models whose chat template or special tokens differ, unless tokenizer_source chooses."""
    if spec.tokenizer_source is not None:
        return
    found = [(item, tokenizer_settings(item.path)) for item in models]
    found = [(item, settings) for item, settings in found if settings is not None]
    if not found:
        return
    first, first_settings = found[0]
    for item, settings in found[1:]:
        differs = [what for what in first_settings if settings[what] != first_settings[what]]
        if differs:
            raise SpecError(
                f"{item.label} has another {' and '.join(differs)} than {first.label}; set tokenizer_source "
                "to the input whose tokenizer the merged model keeps ('base' or a model's index, e.g. 0)"
            )


def tokenizer_source_dir(spec: MergeSpec, models: list[Input], base: ModelDir | None) -> Path | None:
    """The directory ``tokenizer_source`` picks, if it has tokenizer files (else its base's)."""
    source = spec.tokenizer_source
    if source is None:
        return None
    chosen = base if source == "base" else models[source]
    assert chosen is not None  # the spec refuses 'base' without a base_model
    if tokenizer_settings(chosen.path) is None and base is not None:
        return base.path
    return chosen.path
