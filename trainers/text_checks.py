"""What makes a text field unusable: characters that cannot be stored, and text that only looks filled.

PostgreSQL (where the validation report lives) cannot store NUL characters, and a lone UTF-16
surrogate such as ``\\ud800`` (from a JSON escape) is not Unicode text at all: neither can be
written out as UTF-8. A field of zero-width spaces or other invisible format characters is as
empty as a blank one, even though ``str.strip`` keeps it.
"""

from __future__ import annotations

import re
import unicodedata

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp"}  # controls, format characters (U+200B, U+FEFF…), spaces


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be kept as text, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    where = f"at character {found.start() + 1}"
    if found.group() == "\x00":
        return f"contains a NUL character (\\u0000) {where}; remove it"
    code = f"\\u{ord(found.group()):04x}"
    return f"contains an unpaired surrogate ({code}) {where}, which is not valid Unicode text; remove it"


def blank(value: str) -> bool:
    """True when nothing in ``value`` would show: whitespace, zero-width and other invisible characters."""
    if value.strip() == "":
        return True
    return all(unicodedata.category(ch) in _INVISIBLE for ch in value)


def escape_unstorable(value: str) -> str:
    """``value`` with NUL and lone surrogates written as visible escapes (for reports and errors)."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
