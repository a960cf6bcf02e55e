"""Hone's grpo step time against a plain TRL GRPOTrainer script, same model, data and settings.

Both start from the same warm-started tiny model (bench/grpo_heldout.py: the answer format with a
wrong rule) on "Which is larger: a or b?" prompts, full fine-tuning, the same seed, group size,
KL, clipping, completion length, learning rate and schedule, the same exact-match reward. Hone
runs the whole job (``trainers.train.run_training``: spec, checks, events, its callbacks, held-out
accuracy before the first and after the last step); the baseline is GRPOTrainer alone. Step time
is measured over the training steps only (Hone: between its first and last progress events;
TRL: between the first and last on_step_end), so loading and the held-out evaluations are left
out, in CPU-seconds of this process (``time.process_time``: what another engineer's tests on a
shared machine take from the wall clock does not count) and in wall seconds. Runs are interleaved
(TRL, Hone, TRL, Hone, …); prints each side's median and range, the ratio TRL / Hone of each
interleaved pair (≥ 1.0: Hone no slower) with its median and range, and each run's mean train
reward over the first and last quarter of the logs.

    OMP_NUM_THREADS=1 python bench/grpo_vs_trl.py [--rows 400] [--runs 5]
    OMP_NUM_THREADS=1 python bench/grpo_vs_trl.py --rows 200 --profile /tmp/grpo-prof   # cProfile both

``--profile DIR`` runs one of each under cProfile instead, writes ``hone.pstats`` and ``trl.pstats``
there and prints, side by side, the cumulative time of the parts a GRPO step is made of.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
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


class Clocked(io.StringIO):
    """Hone's event stream, noting the wall and CPU clocks as each progress event is written."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[tuple[int, float, float]] = []  # (step, wall, cpu)

    def write(self, text: str) -> int:
        if '"progress"' in text:
            event = json.loads(text)
            if event.get("kind") == "progress":
                self.progress.append((event["step"], time.perf_counter(), time.process_time()))
        return super().write(text)


def hone_job(model: Path, data: Path, out: Path) -> dict:
    job = spec(model, data, out, method="full", objective="grpo")
    job["training"] = {"learning_rate": LR, "epochs": 1, "batch_size": B, "max_seq_length": 64,
                       "evals_per_run": 1, "checkpoints_per_run": 0, "warmup_ratio": 0.0, "seed": SEED,
                       "eval_fraction": 0.05}  # fmt: skip
    job["grpo"] = {"num_generations": G, "max_completion_length": COMPLETION, "beta": BETA,
                   "rewards": ["exact_match"]}  # fmt: skip
    return job


def hone(model: Path, data: Path, out: Path) -> tuple[float, float, list[float]]:
    """(wall seconds per step, CPU seconds per step, the logged train rewards) of Hone's whole job."""
    from trainers.events import EventEmitter
    from trainers.spec import parse_spec
    from trainers.train import run_training

    stream = Clocked()
    run_training(parse_spec(hone_job(model, data, out)), EventEmitter(stream))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    (step0, wall0, cpu0), (step1, wall1, cpu1) = stream.progress[0], stream.progress[-1]
    rewards = [e["value"] for e in events if e["kind"] == "metric" and e["name"] == "reward"
               and e["split"] == "train"]  # fmt: skip
    return (wall1 - wall0) / (step1 - step0), (cpu1 - cpu0) / (step1 - step0), rewards


def trl_baseline(model_dir: Path, data: Path, out: Path, rows: int) -> tuple[float, float, list[float]]:
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

    times: list[tuple[float, float]] = []
    rewards: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append((time.perf_counter(), time.process_time()))

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
    steps = len(times) - 1
    return (times[-1][0] - times[0][0]) / steps, (times[-1][1] - times[0][1]) / steps, rewards


def rounded(values: list[float]) -> list[float]:
    return [round(v, 6) for v in values]


def quarters(values: list[float]) -> str:
    q = max(len(values) // 4, 1)
    return f"{statistics.mean(values[:q]):.2f} → {statistics.mean(values[-q:]):.2f}"


def spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    return (f"{statistics.median(values) * scale:.2f}{unit} (range {min(values) * scale:.2f}–"
            f"{max(values) * scale:.2f})")  # fmt: skip


def compare(results: dict[str, list]) -> None:
    for name, runs in results.items():
        trajectory = "; ".join(quarters(r[2]) for r in runs)
        print(f"{name}: CPU {spread([r[1] for r in runs], 1000, ' ms')} per step, wall "
              f"{spread([r[0] for r in runs], 1000, ' ms')}, {len(runs)} runs; train reward first → last "
              f"quarter per run: {trajectory}")  # fmt: skip
    pairs = list(zip(results["hone"], results["trl"], strict=True))
    same = all(rounded(h[2]) == rounded(t[2]) for h, t in pairs)
    print(f"every logged train reward the same in both (to 6 places): {'yes' if same else 'no'}")
    print(f"ratio TRL / Hone per interleaved pair, CPU: {spread([t[1] / h[1] for h, t in pairs])}; "
          f"wall: {spread([t[0] / h[0] for h, t in pairs])}")  # fmt: skip
    print("pairs (CPU):", ", ".join(f"{t[1] / h[1]:.3f}" for h, t in pairs))


# The parts of a GRPO step, by the function that does each (TRL's and transformers' own, so both
# sides have them), then what Hone adds around them.
PARTS = {
    "generate + score (TRL)": "_generate_and_score_completions",
    "  model.generate": "generate",
    "  reward functions (TRL's call)": "_calculate_rewards",
    "loss forward (TRL)": "compute_loss",
    "backward": "backward",
    "optimizer step": "step",
    "callbacks: on_step_end": "on_step_end",
    "callbacks: on_log": "on_log",
    "tokenize prompts (TRL)": "_tokenize_prompts",
}


def cumulative(stats: pstats.Stats, name: str, under: str = "") -> float:
    """Cumulative seconds of the outermost calls of functions named ``name`` (file containing ``under``)."""
    total = 0.0
    for (filename, _line, function), (_cc, _nc, _tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and under in filename:
            outer = [c for c in callers if c[2] != name]
            total += sum(callers[c][3] for c in outer) if outer else ct
    return total


def profile(model: Path, data: Path, work: Path, rows: int, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    for name, run in (("trl", lambda: trl_baseline(model, data, work / "trl-prof", rows)),
                      ("hone", lambda: hone(model, data, work / "hone-prof"))):  # fmt: skip
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(run)
        profiler.dump_stats(where / f"{name}.pstats")
    stats = {name: pstats.Stats(str(where / f"{name}.pstats")) for name in ("trl", "hone")}
    print(f"{'CPU seconds, cumulative':40} {'TRL':>8} {'Hone':>8}")
    for label, function in PARTS.items():
        print(f"{label:40} " + " ".join(f"{cumulative(stats[n], function):8.2f}" for n in ("trl", "hone")))
    print("\nHone's own code (trainers/), by cumulative CPU seconds:")
    own = [(ct, f"{Path(f).name}:{fn}") for (f, _l, fn), (_c, _n, _t, ct, _) in stats["hone"].stats.items()  # type: ignore[attr-defined]
           if "/trainers/" in f and "site-packages" not in f]  # fmt: skip
    for ct, where_ in sorted(own, reverse=True)[:25]:
        print(f"  {ct:8.2f}  {where_}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", type=Path, help="run one of each under cProfile, stats here")
    args = parser.parse_args()
    from trainers.tiny import larger_number_rows

    with tempfile.TemporaryDirectory(prefix="hone-grpo-vs-trl-") as tmp:
        work = Path(tmp)
        model = warm_model(work)
        data = write_jsonl(work / "larger.jsonl", larger_number_rows(args.rows, seed=2000))
        if args.profile:
            profile(model, data, work, args.rows, args.profile)
            return
        results: dict[str, list] = {"hone": [], "trl": []}
        for run in range(args.runs):  # interleaved, so load on the machine falls on both alike
            results["trl"].append(trl_baseline(model, data, work / f"trl{run}", args.rows))
            results["hone"].append(hone(model, data, work / f"hone{run}"))
            print(f"run {run + 1}: TRL CPU {results['trl'][-1][1] * 1000:.0f} ms/step, Hone CPU "
                  f"{results['hone'][-1][1] * 1000:.0f} ms/step", flush=True)  # fmt: skip
        compare(results)


if __name__ == "__main__":
    main()
