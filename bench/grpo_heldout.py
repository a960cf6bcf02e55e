"""Held-out accuracy before and after Hone's grpo objective, on a task this script makes with its
own checker: "Which is larger: 3 or 8?" (trainers.tiny.larger_number_rows).

For each seed: a tiny Llama-style model (random weights, tokenizer trained on the fly) is taught the
answer format with a wrong rule (full fine-tuning, answer the first number: right about half the
time), then trained with grpo, rewarded only by exact match. Accuracy is the share of held-out
prompts (a separate file, another seed) answered right greedily, as the job reports it live
(metric "accuracy", split eval). Nothing here reads the held-out answers during training.

    OMP_NUM_THREADS=1 python bench/grpo_heldout.py [--rows 1200] [--heldout 200] [--seeds 0 1 2]
        [--method full|lora] [--learning-rate 2e-3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def spec(model: Path, data: Path, out: Path, **extra) -> dict:
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    return {"job_id": 1, "attempt": 1, "base_model": {"name": "tiny", "path": str(model)},
            "dataset": {"path": str(data), "sha256": digest, "format": "jsonl", "task": "instruction"},
            "output_dir": str(out), **extra}  # fmt: skip


def train(job: dict) -> list[dict]:
    from trainers.events import EventEmitter
    from trainers.spec import parse_spec
    from trainers.train import run_training

    out = io.StringIO()
    run_training(parse_spec(job), EventEmitter(out))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def one_seed(seed: int, args: argparse.Namespace, work: Path) -> dict:
    from trainers.tiny import build_tiny_llama, larger_number_rows

    model = build_tiny_llama(work / "model", seed=seed)
    first = write_jsonl(work / "first.jsonl", larger_number_rows(400, seed=1000 + seed, answer="first"))
    warm = {"learning_rate": 3e-3, "epochs": 2, "batch_size": 16, "max_seq_length": 64, "evals_per_run": 1,
            "checkpoints_per_run": 0, "seed": seed}  # fmt: skip
    train(spec(model, first, work / "warm", method="full", training=warm))
    data = write_jsonl(work / "larger.jsonl", larger_number_rows(args.rows, seed=2000 + seed))
    heldout = write_jsonl(work / "heldout.jsonl", larger_number_rows(args.heldout, seed=3000 + seed))
    job = spec(work / "warm" / "model", data, work / "grpo", method=args.method, objective="grpo")
    job["dataset"]["eval_path"] = str(heldout)
    job["training"] = {"learning_rate": args.learning_rate, "epochs": 1, "batch_size": 8,
                       "max_seq_length": 64, "evals_per_run": 5, "checkpoints_per_run": 0,
                       "warmup_ratio": 0.0, "seed": seed}  # fmt: skip
    job["grpo"] = {"num_generations": 8, "max_completion_length": 4, "beta": 0.04, "rewards": ["exact_match"]}
    started = time.perf_counter()
    events = train(job)
    seconds = time.perf_counter() - started
    accuracy = {e["step"]: e["value"] for e in events
                if e["kind"] == "metric" and e["name"] == "accuracy"}  # fmt: skip
    reward = [e["value"] for e in events if e["kind"] == "metric" and e["name"] == "reward"
              and e["split"] == "train"]  # fmt: skip
    return {"seed": seed, "accuracy": accuracy, "seconds": seconds, "reward_first": reward[0],
            "reward_last": reward[-1], "steps": max(accuracy)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--method", default="full")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    args = parser.parse_args()
    print("| seed | steps | held-out accuracy before | after | train reward first → last log | time |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="hone-grpo-") as work:
            r = one_seed(seed, args, Path(work))
        acc = r["accuracy"]
        print(f"| {seed} | {r['steps']} | {acc[0]:.3f} | {acc[r['steps']]:.3f} | "
              f"{r['reward_first']:.2f} → {r['reward_last']:.2f} | {r['seconds']:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
