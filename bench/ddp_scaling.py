"""Tokens per second of LoRA SFT with 2 processes (DDP over gloo, under torchrun) against 1, with the
same global batch, on this machine's CPUs: the real trainer CLI (``python -m trainers run`` and
``python -m trainers.torchrun``), a Llama-style model of about 3M parameters built on the fly.

Both runs train on the same rows in the same order for the same optimizer steps, so the
tokens are the same: the ratio is the single run's training time over the 2-process run's.
Training time is from the ``started`` event to the last ``progress`` event (the loop only;
starting Python and torch in each process is left out, and printed apart).

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python bench/ddp_scaling.py [--steps 60] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GLOBAL_BATCH = 8
SEQ = 256


def build_model(folder: Path) -> Path:
    """A bigger sibling of trainers.tiny's model, so compute (not Python overhead) dominates a step."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from trainers.tiny import build_tiny_llama

    tiny = build_tiny_llama(folder / "tokenizer-source")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=LlamaConfig.from_pretrained(tiny).vocab_size, hidden_size=256,
                         intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=4, max_position_embeddings=512)  # fmt: skip
    model_dir = folder / "llama-3m"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (tiny / name).exists():
            (model_dir / name).write_bytes((tiny / name).read_bytes())
    return model_dir


def spec_for(model: Path, train: Path, evals: Path, out: Path, processes: int, steps: int) -> dict:
    from tests.trainers.conftest import make_spec

    training = {"epochs": 1, "batch_size": GLOBAL_BATCH // processes, "max_seq_length": SEQ,
                "evals_per_run": 1, "checkpoints_per_run": 0, "learning_rate": 2e-4}  # fmt: skip
    spec = make_spec(model, train, out, training=training, lora={"r": 16, "dropout": 0.0})
    spec["dataset"]["eval_path"] = str(evals)
    spec["distributed"] = {"nodes": 1, "processes_per_node": processes, "strategy": "ddp"}
    return spec


def run(spec: dict, folder: Path) -> dict:
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    module = ["trainers.torchrun"] if spec["distributed"]["processes_per_node"] > 1 else ["trainers", "run"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", *module, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.monotonic() - began
    if done.returncode != 0:
        sys.exit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    start = next(e for e in events if e["kind"] == "started")
    last = [e for e in events if e["kind"] == "progress"][-1]
    loop = (_time(last) - _time(start)).total_seconds()
    return {"loop_s": loop, "wall_s": wall, "steps": last["step"]}


def _time(event: dict) -> datetime:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00"))


def tokens_trained(model: Path, train: Path) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    total = 0
    for line in train.read_text().splitlines():
        row = json.loads(line)
        total += min(len(tokenizer(row["instruction"] + " " + row["output"])["input_ids"]) + 8, SEQ)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from tests.trainers.conftest import write_jsonl
    from trainers.tiny import demo_instruction_rows

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_model(work)
        rows = demo_instruction_rows(GLOBAL_BATCH * args.steps + 16)
        train, evals = (
            write_jsonl(work / "train.jsonl", rows[16:]),
            write_jsonl(work / "eval.jsonl", rows[:16]),
        )
        tokens = tokens_trained(model, train)
        print(
            f"{args.steps} steps × global batch {GLOBAL_BATCH}, ~{tokens:,} tokens; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        results: dict[int, list[dict]] = {1: [], 2: []}
        for repeat in range(args.repeats):
            for processes in (1, 2):
                folder = work / f"run-{processes}-{repeat}"
                folder.mkdir()
                spec = spec_for(model, train, evals, folder / "out", processes, args.steps)
                results[processes].append(run(spec, folder))
        print(f"{'processes':>9} {'loop s (best)':>14} {'tokens/s':>9} {'wall s (best)':>14}")
        best = {p: min(r["loop_s"] for r in rs) for p, rs in results.items()}
        for processes, rs in results.items():
            wall = min(r["wall_s"] for r in rs)
            print(f"{processes:>9} {best[processes]:>14.2f} {tokens / best[processes]:>9.0f} {wall:>14.1f}")
        print(f"2 processes ÷ 1 (tokens/s): {best[1] / best[2]:.2f}×")


if __name__ == "__main__":
    main()
