"""Influence toward a target set on a real model: do LESS and CoLoR-Filter keep rows like the target?

Data: paragraphs of the Python library reference Debian ships (``python3-doc``; tests/support/
real_text.py) as plain text, ``--per-chapter`` from each of its 13 chapters; the target set is
``--target-rows`` other paragraphs of one chapter. Each method is a whole curate job (its real code
path, ``budget.keep_percent`` 10) with SmolLM2-135M-Instruct (the demo model Hone ships); the measure
is the share of kept rows from the target's chapter (a random draw keeps about 1/13 of them).

    python bench/curate_influence.py [--per-chapter 10] [--target-rows 8] [--chapter markup]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.curate_quality import curate_with_target  # noqa: E402
from tests.support.real_text import python_doc_paragraphs  # noqa: E402

METHODS: dict[str, dict] = {
    "random (the job's)": {},
    "LESS, Adam-preconditioned": {"influence": {"method": "less", "train_steps": 8, "projection_dims": 1024}},
    "LESS, plain gradients": {
        "influence": {"method": "less", "preconditioner": "sgd", "train_steps": 0, "projection_dims": 1024}
    },
    "CoLoR-Filter": {"influence": {"method": "color_filter", "train_steps": 16, "learning_rate": 1e-3}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-chapter", type=int, default=10)
    parser.add_argument("--target-rows", type=int, default=8)
    parser.add_argument("--chapter", default="compression and archives")
    parser.add_argument("--model", type=Path, default=None, help="an HF folder (default: the demo model)")
    args = parser.parse_args()
    rows = python_doc_paragraphs()
    random.Random(0).shuffle(rows)
    pool, target, taken = [], [], {}
    for row in rows:
        if row["label"] == args.chapter and len(target) < args.target_rows:
            target.append({"text": row["text"]})
        elif taken.get(row["label"], 0) < args.per_chapter:
            taken[row["label"]] = taken.get(row["label"], 0) + 1
            pool.append(row)
    model = args.model
    if model is None:
        from jobs.management import demo_model

        model = demo_model.prepare(Path(tempfile.gettempdir()) / "hone-bench-smollm2")
    tokenizer = {"name": "SmolLM2-135M-Instruct", "path": str(model)}
    texts = [{"text": r["text"]} for r in pool]
    chapters = {r["text"]: r["label"] for r in pool}
    print(f"{len(pool)} rows, {len(taken)} chapters; target: {len(target)} of {args.chapter!r}; keep 10 %")
    for method, steps in METHODS.items():
        params = {"tokenizer": tokenizer, **steps} if steps else {}
        kept, seconds = curate_with_target(texts, target if steps else None, keep_percent=10, **params)
        hits = sum(chapters[r["text"]] == args.chapter for r in kept)
        share = f"{hits}/{len(kept)} kept rows from the target's chapter ({hits / len(kept):.0%})"
        print(f"  {method:28} {share}; {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
