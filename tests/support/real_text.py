"""Real labelled text no test was tuned to, built offline from files Debian ships, and label noise.

- ``license_paragraphs``: a paragraph of a licence text -> its licence family (Apache, GFDL, GPL,
  LGPL, MPL), from ``/usr/share/common-licenses`` (Debian's ``base-files``, on every Debian system).
  Long paragraphs are cut into pieces of a few sentences, so each row is a short passage.
- ``python_doc_paragraphs``: a paragraph of the Python library reference -> the chapter of its
  module (Text Processing, Data Persistence, Internet Protocols, ...), from Debian's ``python3-doc``
  (``apt-get install python3-doc``); used by bench/curate_quality.py.

``flip_labels`` changes a share of the labels to another class, at random, and says which.
"""

from __future__ import annotations

import html
import random
import re
from html.parser import HTMLParser
from pathlib import Path

LICENSES = Path("/usr/share/common-licenses")
LICENSE_FAMILIES = {
    "Apache-2.0": "Apache",
    "GFDL-1.3": "GFDL",
    "GPL-3": "GPL",
    "LGPL-2.1": "LGPL",
    "MPL-2.0": "MPL",
}
PYTHON_DOC = Path("/usr/share/doc/python3-doc/html/library")
_SENTENCE = re.compile(r"(?<=[.;:])\s+(?=[A-Z(\"])")


def _pieces(paragraph: str, sentences: int = 2, min_words: int = 8) -> list[str]:
    parts = _SENTENCE.split(" ".join(paragraph.split()))
    found = [" ".join(parts[i : i + sentences]) for i in range(0, len(parts), sentences)]
    return [piece for piece in found if len(piece.split()) >= min_words]


def license_paragraphs() -> list[dict]:
    rows = []
    for name, family in LICENSE_FAMILIES.items():
        for paragraph in (LICENSES / name).read_text(encoding="utf-8").split("\n\n"):
            rows += [{"text": piece, "label": family} for piece in _pieces(paragraph)]
    return rows


class _Paragraphs(HTMLParser):
    """The text of each <p> of a page, and the pages its toctree links to."""

    def __init__(self) -> None:
        super().__init__()
        self.paragraphs, self.links, self._depth, self._buffer = [], [], 0, []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "p":
            self._depth, self._buffer = 1, []
        href = dict(attrs).get("href") or ""
        if tag == "a" and "toctree-l1" in getattr(self, "_li", "") and href.endswith(".html"):
            self.links.append(href.split("#")[0])
        if tag == "li":
            self._li = dict(attrs).get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._depth:
            self._depth = 0
            self.paragraphs.append(html.unescape("".join(self._buffer)))

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._buffer.append(data)


def _parse(path: Path) -> _Paragraphs:
    parser = _Paragraphs()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


CHAPTERS = {
    "text.html": "text processing",
    "datatypes.html": "data types",
    "numeric.html": "numeric",
    "filesys.html": "files and directories",
    "persistence.html": "data persistence",
    "archiving.html": "compression and archives",
    "crypto.html": "cryptography",
    "concurrency.html": "concurrency",
    "netdata.html": "internet data",
    "markup.html": "markup",
    "internet.html": "internet protocols",
    "development.html": "development tools",
    "debug.html": "debugging and profiling",
}


def python_doc_paragraphs() -> list[dict]:
    rows, seen = [], set()
    for chapter, label in CHAPTERS.items():
        for page in dict.fromkeys(_parse(PYTHON_DOC / chapter).links):
            if page in seen or not (PYTHON_DOC / page).exists():
                continue
            seen.add(page)
            for paragraph in _parse(PYTHON_DOC / page).paragraphs:
                rows += [{"text": piece, "label": label} for piece in _pieces(paragraph, 3, 10)]
    return rows


def flip_labels(rows: list[dict], share: float, seed: int) -> tuple[list[dict], set[int]]:
    """A copy of ``rows`` with ``share`` of them given another class's label; the flipped indices."""
    rng = random.Random(seed)
    classes = sorted({row["label"] for row in rows})
    flipped = set(rng.sample(range(len(rows)), round(len(rows) * share)))
    noisy = [
        {**row, "label": rng.choice([c for c in classes if c != row["label"]])} if i in flipped else dict(row)
        for i, row in enumerate(rows)
    ]
    return noisy, flipped
