"""Exact duplicates (a hash of the normalised text) and near duplicates (MinHash LSH, datasketch).

Both are streamed: a row is compared with the rows kept before it and, when it is kept, added to
the index, so memory holds one digest and one MinHash signature per kept row, never the rows.
An evaluation set is indexed first, apart: a row that matches it is contamination.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from datasketch import MinHash, MinHashLSH

from trainers.curate.texts import normalise
from trainers.spec_curate import DedupStep

# One fixed permutation seed: the same text always gets the same signature, across jobs.
MINHASH_SEED = 1
# LSH bands tuned towards recall (false negatives weigh 0.8): every candidate is then checked
# against its estimated Jaccard, so a false positive costs a comparison, a false negative a duplicate.
LSH_WEIGHTS = (0.2, 0.8)


def exact_key(text: str) -> bytes:
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=16).digest()


def shingles(text: str, size: int) -> set[bytes]:
    tokens = normalise(text).split()
    if len(tokens) <= size:
        return {" ".join(tokens).encode("utf-8")}
    return {" ".join(tokens[i : i + size]).encode("utf-8") for i in range(len(tokens) - size + 1)}


def signatures(texts: list[str], step: DedupStep) -> list[MinHash]:
    """One MinHash per text; ``MinHash.bulk`` hashes a chunk at once (faster than one by one)."""
    sets = [list(shingles(text, step.shingle_words)) for text in texts]
    return MinHash.bulk(sets, num_perm=step.num_perm, seed=MINHASH_SEED)


@dataclass
class Match:
    reason: str  # "exact_duplicate", "near_duplicate", "contaminated"
    of: str  # which row it repeats, in words ("datasets[0] row 12", "eval_set row 3")
    similarity: float


@dataclass
class Index:
    """Kept rows seen so far (and the evaluation set), by exact key and by MinHash."""

    step: DedupStep
    exact: dict[bytes, str] = field(default_factory=dict)
    lsh: MinHashLSH | None = None
    signatures: dict[str, MinHash] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.step.near:
            self.lsh = MinHashLSH(
                threshold=self.step.threshold, num_perm=self.step.num_perm, weights=LSH_WEIGHTS
            )

    def match(self, key: bytes, signature: MinHash | None) -> tuple[str, float, bool] | None:
        """The indexed row this one repeats, its similarity and whether exactly; None if it is new."""
        if self.step.exact and key in self.exact:
            return self.exact[key], 1.0, True
        if self.lsh is None or signature is None:
            return None
        best: tuple[str, float, bool] | None = None
        for name in self.lsh.query(signature):
            # LSH finds candidates; the estimated Jaccard decides, so the threshold means what it says.
            similarity = float(signature.jaccard(self.signatures[name]))
            if similarity >= self.step.threshold and (best is None or similarity > best[1]):
                best = (name, similarity, False)
        return best

    def add(self, name: str, key: bytes, signature: MinHash | None) -> None:
        self.exact.setdefault(key, name)
        if self.lsh is not None and signature is not None and name not in self.signatures:
            self.lsh.insert(name, signature)
            self.signatures[name] = signature


@dataclass
class Deduplicator:
    """Checks rows in order against the evaluation set, then against the rows kept before them."""

    step: DedupStep
    eval_index: Index | None = None
    kept: Index = field(init=False)

    def __post_init__(self) -> None:
        self.kept = Index(self.step)

    def index_eval(self, texts: list[str], start: int) -> None:
        if self.eval_index is None:
            self.eval_index = Index(self.step)
        sigs = signatures(texts, self.step) if self.step.near else [None] * len(texts)
        for i, (text, sig) in enumerate(zip(texts, sigs, strict=True)):
            self.eval_index.add(f"eval_set row {start + i}", exact_key(text), sig)

    def check(self, names: list[str], texts: list[str], alive: list[bool]) -> list[Match | None]:
        """For a chunk: each row's match (None: new). A row already dropped by an earlier
        step is neither checked nor indexed (``alive`` False)."""
        sigs = signatures(texts, self.step) if self.step.near else [None] * len(texts)
        found: list[Match | None] = []
        for name, text, sig, live in zip(names, texts, sigs, alive, strict=True):
            if not live:
                found.append(None)
                continue
            key = exact_key(text)
            hit = self.eval_index.match(key, sig) if self.eval_index else None
            if hit:
                found.append(Match("contaminated", hit[0], hit[1]))
                continue
            hit = self.kept.match(key, sig)
            if hit:
                reason = "exact_duplicate" if hit[2] else "near_duplicate"
                found.append(Match(reason, hit[0], hit[1]))
                continue
            self.kept.add(name, key, sig)
            found.append(None)
        return found
