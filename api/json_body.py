"""What a JSON request body may hold before any view sees it.

Python parses JSON nested about 1,000 deep before it gives up with a RecursionError (a 500,
not a 400), and every later step that walks the value (serializers, the idempotency
fingerprint) recurses too. Strings with NUL characters or lone surrogates (``"\\ud800"``)
can be neither stored in PostgreSQL nor written out as UTF-8. All of these are refused here,
with the path of the first offending value (``params.prompt_tuning.init_text``).
"""

from __future__ import annotations

from rest_framework import exceptions

from trainers.text_checks import unstorable

MAX_DEPTH = 32  # job bodies nest 4 deep (params.lora.r; models[0].weight)


def _path(parts: tuple) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check(value: object) -> None:
    """Raise ValidationError at the first value nested too deep or holding unstorable text."""
    stack: list[tuple[tuple, object]] = [((), value)]
    while stack:
        parts, item = stack.pop()
        if len(parts) > MAX_DEPTH:
            where = _path(parts[:MAX_DEPTH])
            raise exceptions.ValidationError(
                {
                    where or "body": [
                        f"the JSON is nested more than {MAX_DEPTH} levels deep; no field needs that"
                    ]
                }
            )
        if isinstance(item, str):
            problem = unstorable(item)
            if problem:
                raise exceptions.ValidationError({_path(parts) or "body": [problem]})
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = unstorable(key)
                if problem:
                    raise exceptions.ValidationError({_path(parts) or "body": [f"a key {problem}"]})
                stack.append(((*parts, key), child))
        elif isinstance(item, list):
            stack.extend(((*parts, index), child) for index, child in enumerate(item))
