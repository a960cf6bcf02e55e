"""``hone_training.json``: what a trained model was taught with, kept beside its weights.

It records the chat template every training row was rendered with (the base model's own, or Hone's
fallback for a tokenizer without one), so that evaluation, the playground and serving read prompts
the way the model was taught. The template itself is also in the saved tokenizer; this file says
which one it was and where it came from, and survives a tokenizer saved over later.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

RECORD_FILE = "hone_training.json"


def chat_template_record(tokenizer: Any) -> dict | None:
    from trainers.examples import FALLBACK_CHAT_TEMPLATE

    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or not template:
        return None
    return {
        "source": "hone fallback" if template == FALLBACK_CHAT_TEMPLATE else "base model",
        "sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        "template": template,
    }


def write_training_record(model_dir: Path, tokenizer: Any, **facts: Any) -> Path:
    record = {"chat_template": chat_template_record(tokenizer), **facts}
    path = model_dir / RECORD_FILE
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def read_training_record(model_dir: str | Path | None) -> dict | None:
    """The record in ``model_dir``, or None where there is none (a model Hone did not train)."""
    if not model_dir:
        return None
    path = Path(model_dir) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def trained_chat_template(model_dir: str | Path | None) -> str | None:
    record = read_training_record(model_dir) or {}
    template = (record.get("chat_template") or {}).get("template")
    return template if isinstance(template, str) and template else None
