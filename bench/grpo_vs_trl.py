"""Hone's grpo step time against a plain TRL GRPOTrainer script, same model, data and settings.

Both start from the same warm-started tiny model (bench/grpo_heldout.py: the answer format with a
wrong rule) on "Which is larger: a or b?" prompts, full fine-tuning, the same seed, group size,
KL, clipping, completion length, learning rate and schedule, the same exact-match reward. Hone
runs the whole job (``trainers.train.run_training``: spec, checks, events, its callbacks, held-out
accuracy before the first and after the last step); the baseline is GRPOTrainer alone. Step time
is measured over the training steps only (Hone: between its first and last progress events;
TRL: between the first and last on_step_end), so loading and the held-out evaluations are left
out. Prints the median of --runs for each, the ratio TRL / Hone (≥ 1.0: Hone no slower) and each
run's mean train reward over the first and last quarter of the logs.

    OMP_NUM_THREADS=1 python bench/grpo_vs_trl.py [--rows 400] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from grpo_heldout import spec, train, write_jsonl  # noqa: E402

G, B, LR, BETA, COMPLETION, SEED = 8, 8, 2e-3, 0.04, 4, 0


def warm_model(work: Path) -> Path:
    from trainers.tiny import build_tiny_llama, larger_number_rows

    model = build_tiny_llama(work / "model", seed=SEED)
    first = write_jsonl(work / "first.jsonl", larger_number_rows(400, seed=1000, answer="first"))
    warm = {"learning_rate": 3e-3, "epochs": 2, "batch_size": 16, "max_seq_length": 64, "evals_per_run": 1,
            "checkpoints_per_run": 0, "seed": SEED}  # fmt: skip
    train(spec(model, first, work / "warm", method="full", training=warm))
    return work / "warm" / "model"


def hone(model: Path, data: Path, out: Path) -> tuple[float, list[float]]:
    job = spec(model, data, out, method="full", objective="grpo")
    job["training"] = {"learning_rate": LR, "epochs": 1, "batch_size": B, "max_seq_length": 64,
                       "evals_per_run": 1, "checkpoints_per_run": 0, "warmup_ratio": 0.0, "seed": SEED,
                       "eval_fraction": 0.05}  # fmt: skip
    job["grpo"] = {"num_generations": G, "max_completion_length": COMPLETION, "beta": BETA,
                   "rewards": ["exact_match"]}  # fmt: skip
    events = train(job)
    progress = [e for e in events if e["kind"] == "progress"]
    from datetime import datetime

    first, last = (datetime.fromisoformat(e["time"]) for e in (progress[0], progress[-1]))
    per_step = (last - first).total_seconds() / (progress[-1]["step"] - progress[0]["step"])
    rewards = [e["value"] for e in events if e["kind"] == "metric" and e["name"] == "reward"
               and e["split"] == "train"]  # fmt: skip
    return per_step, rewards


def trl_baseline(model_dir: Path, data: Path, out: Path, rows: int) -> tuple[float, list[float]]:
    """What a user would write with TRL alone: the same rows, reward and settings."""
    import json

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from trainers.rewards.exact_match import ExactMatchParams, score

    raw = [json.loads(line) for line in data.read_text().splitlines()]
    random.Random(SEED).shuffle(raw)  # the rows Hone trains on: the same seeded 5% held out
    held = min(max(1, round(len(raw) * 0.05)), len(raw) - 1)
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}], "answer": r["answer"]}
                                 for r in raw[held:]])  # fmt: skip

    def exact_match(prompts, completions, answer, **_):
        pairs = zip(completions, answer, strict=True)
        return [score(c[0]["content"], a, ExactMatchParams()) for c, a in pairs]

    times: list[float] = []
    rewards: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "reward" in logs:
                rewards.append(logs["reward"])

    config = GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=B * G, num_generations=G, learning_rate=LR,
        beta=BETA, epsilon=0.2, max_completion_length=COMPLETION, temperature=1.0, num_train_epochs=1,
        warmup_steps=0.0, lr_scheduler_type="linear", weight_decay=0.0, logging_steps=1, save_strategy="no",
        eval_strategy="no", report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False,
        seed=SEED, data_seed=SEED, disable_tqdm=True, log_level="warning",
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = GRPOTrainer(model=model, reward_funcs=[exact_match], args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[Clock()])  # fmt: skip
    trainer.train()
    return (times[-1] - times[0]) / (len(times) - 1), rewards


def rounded(values: list[float]) -> list[float]:
    return [round(v, 6) for v in values]


def quarters(values: list[float]) -> str:
    q = max(len(values) // 4, 1)
    return f"{statistics.mean(values[:q]):.2f} → {statistics.mean(values[-q:]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from trainers.tiny import larger_number_rows

    with tempfile.TemporaryDirectory(prefix="hone-grpo-vs-trl-") as tmp:
        work = Path(tmp)
        model = warm_model(work)
        data = write_jsonl(work / "larger.jsonl", larger_number_rows(args.rows, seed=2000))
        results: dict[str, list] = {"hone": [], "trl": []}
        for run in range(args.runs):  # interleaved, so load on the machine falls on both alike
            results["trl"].append(trl_baseline(model, data, work / f"trl{run}", args.rows))
            results["hone"].append(hone(model, data, work / f"hone{run}"))
        step = {name: statistics.median(r[0] for r in runs) for name, runs in results.items()}
        for name, runs in results.items():
            trajectory = "; ".join(quarters(r[1]) for r in runs)
            print(f"{name}: step {step[name] * 1000:.0f} ms (median of {len(runs)}), "
                  f"train reward first → last quarter per run: {trajectory}")  # fmt: skip
        pairs = zip(results["hone"], results["trl"], strict=True)
        same = all(rounded(h[1]) == rounded(t[1]) for h, t in pairs)
        print(f"every logged train reward the same in both (to 6 places): {'yes' if same else 'no'}")
        ratio = step["trl"] / step["hone"]
        print(f"ratio TRL / Hone step time: {ratio:.2f}")


if __name__ == "__main__":
    main()
