"""Real text-classification tasks for bench/preset_quality.py, built from Debian packages (offline).

None of the texts was written by this project:

- ``debian-sections``: a package's one-line description -> its archive section (the 8 largest
  sections), from the APT lists (``apt-cache dumpavail``; run ``apt-get update`` once first).
- ``wordnet-nouns``: a WordNet noun gloss -> its lexicographer file (``noun.animal``,
  ``noun.artifact``, ...; the 10 largest), from Debian's ``wordnet-base``
  (``apt-get install wordnet-base``).
- ``man-sections``: a manual page's NAME line -> its section (2 system calls, 3 library functions,
  4 devices, 5 file formats, 7 overviews, 8 administration), from the pages of Debian's
  ``manpages`` and ``manpages-dev`` packages only, so the task is the same on every machine.

Debian's ``fortunes`` is deliberately not used: it is kept as an independent check of the presets.
Each task is a seeded sample with the classes' natural imbalance, split into train and test.
"""

from __future__ import annotations

import gzip
import random
import re
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WORDNET = Path("/usr/share/wordnet/data.noun")
NOUN_FILES = [  # WordNet's lexicographer file numbers 03-28 (lexnames(5WN))
    "Tops", "act", "animal", "artifact", "attribute", "body", "cognition", "communication", "event",
    "feeling", "food", "group", "location", "motive", "object", "person", "phenomenon", "plant",
    "possession", "process", "quantity", "relation", "shape", "state", "substance", "time",
]


@dataclass(frozen=True)
class Task:
    name: str
    train: list[dict]  # {"text": str, "label": str}
    test: list[dict]

    @property
    def labels(self) -> list[str]:
        return sorted({row["label"] for row in self.train})

    def describe(self) -> str:
        counts = Counter(row["label"] for row in self.train)
        biggest, smallest = max(counts.values()), min(counts.values())
        return (f"{self.name}: {len(self.train)} train / {len(self.test)} test rows, {len(counts)} labels, "
                f"largest class {biggest}, smallest {smallest}")


def debian_sections() -> list[dict]:
    listing = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    rows = []
    for stanza in listing.split("\n\n"):
        section = re.search(r"^Section: (?:\w+/)?(\S+)$", stanza, re.M)
        description = re.search(r"^Description(?:-en)?: (.+)$", stanza, re.M)
        if section and description:
            rows.append({"text": description.group(1).strip(), "label": section.group(1)})
    return _dedupe(rows)


def wordnet_nouns() -> list[dict]:
    rows = []
    for line in WORDNET.read_text(encoding="utf-8").splitlines():
        if line.startswith(" ") or "|" not in line:
            continue  # the licence header
        fields, gloss = line.split("|", 1)
        lex_file = int(fields.split()[1])
        definition = gloss.split(";")[0].strip()  # the definition, without the usage examples
        rows.append({"text": definition, "label": "noun." + NOUN_FILES[lex_file - 3]})
    return _dedupe(rows)


def man_sections() -> list[dict]:
    listing = subprocess.run(["dpkg", "-L", "manpages", "manpages-dev"], capture_output=True, text=True,
                             check=True).stdout
    rows = []
    for name in listing.splitlines():
        match = re.search(r"/man/man(\d)/[^/]+\.gz$", name)
        if not match or Path(name).is_symlink():
            continue
        with gzip.open(name, "rt", encoding="utf-8", errors="replace") as page:
            lines = page.read().splitlines()
        summary = _name_line(lines)
        if summary:
            rows.append({"text": summary, "label": match.group(1)})
    return _dedupe(rows)


def _name_line(lines: list[str]) -> str | None:
    for i, line in enumerate(lines[:-1]):
        if line.strip().upper() in (".SH NAME", '.SH "NAME"'):
            text = lines[i + 1].replace("\\-", "-").replace("\\", "")
            return text.strip() if " - " in text else None  # a ".so" redirect or an odd page
    return None


def _dedupe(rows: list[dict]) -> list[dict]:
    """One row per text, and no text that carries two labels (its class would be a coin toss)."""
    labels_of: dict[str, set[str]] = {}
    for row in rows:
        labels_of.setdefault(row["text"], set()).add(row["label"])
    return [{"text": t, "label": next(iter(ls))} for t, ls in labels_of.items() if len(ls) == 1]


SOURCES: dict[str, tuple[Callable[[], list[dict]], int, int]] = {
    # name -> (rows, classes kept, rows sampled)
    # sizes kept small: the benchmark's CPU-seconds are paid on a shared 2-core machine
    "debian-sections": (debian_sections, 8, 1000),
    "wordnet-nouns": (wordnet_nouns, 10, 700),
    "man-sections": (man_sections, 6, 1200),  # all 1009 of them
}


def load(name: str, seed: int = 0, test_share: float = 0.25, scale: float = 1.0) -> Task:
    """The task ``name``: its ``classes`` largest classes, ``rows`` rows sampled at random (the classes'
    natural imbalance), a stratified-by-chance test split. ``scale`` shrinks the sample (quick runs)."""
    build, classes, size = SOURCES[name]
    rows = build()
    kept = {label for label, _ in Counter(r["label"] for r in rows).most_common(classes)}
    rows = sorted((r for r in rows if r["label"] in kept), key=lambda r: (r["label"], r["text"]))
    random.Random(seed).shuffle(rows)
    rows = rows[: int(size * scale)]
    n_test = int(len(rows) * test_share)
    return Task(name, train=rows[n_test:], test=rows[:n_test])
