"""Merge wall time and peak memory: Hone's trainer against mergekit, same inputs, same method.

Builds a base and three fine-tunes of a Llama-shaped model (random weights, safetensors, fp32)
once per size under --workdir, then for each method runs, interleaved, ``python -m trainers run
spec.json`` and ``mergekit-yaml config.yml`` as subprocesses. Each reports its own peak RSS (VmHWM
from /proc/self/status, saved as it exits) and CPU time; wall time includes each tool's start-up
(python, torch, and for mergekit transformers). Outputs are compared tensor by tensor.

    python bench/merge_vs_mergekit.py                       # medium models, linear and ties, 3 runs
    python bench/merge_vs_mergekit.py --size large --methods linear,ties,slerp --runs 3 --threads 2
    python bench/merge_vs_mergekit.py --size small --methods model_stock,sce,karcher,nuslerp,della

DELLA draws random masks (from different generators in the two tools): its row compares time and
memory only; its outputs differ by design.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {  # hidden, intermediate, layers, vocab
    "small": (512, 1408, 4, 4096),
    "medium": (1024, 2816, 8, 4096),
    "large": (2048, 5632, 8, 16384),
}
# hone (method, params, needs base, per-model weights: their count is the number of fine-tunes, else 3),
# mergekit (method, params per model[, global params])
METHODS = {
    "linear": (("linear", {}, False, [1.0, 2.0, 0.5]), ("linear", {})),
    "task_arithmetic": (("task_arithmetic", {}, True, [0.5, 0.3, 0.2]), ("task_arithmetic", {})),
    "ties": (("ties", {"density": 0.5}, True, [1.0, 0.7, 0.5]), ("ties", {"density": 0.5})),
    "breadcrumbs": (
        ("breadcrumbs", {"density": 0.8, "gamma": 0.01}, True, [0.5, 0.3, 0.2]),
        ("breadcrumbs", {"density": 0.8, "gamma": 0.01}),
    ),
    "slerp": (("slerp", {"t": 0.4}, False, None), ("slerp", {})),
    "model_stock": (("model_stock", {}, True, None), ("model_stock", {})),
    "sce": (("sce", {"select_topk": 0.5}, True, None), ("sce", {}, {"select_topk": 0.5})),
    "karcher": (("karcher", {}, False, None), ("karcher", {})),
    "nuslerp": (("nuslerp", {}, True, [0.6, 0.4]), ("nuslerp", {})),
    "della": (
        ("della", {"density": 0.5, "epsilon": 0.1}, True, [1.0, 0.7, 0.5]),
        ("della", {"density": 0.5, "epsilon": 0.1}),
    ),
}
STATUS = (
    "import atexit, sys; status_path = sys.argv.pop(1); "
    "atexit.register(lambda: open(status_path, 'w').write(open('/proc/self/status').read())); "
)
HONE = STATUS + "import runpy; sys.argv[0] = 'trainers'; runpy.run_module('trainers', run_name='__main__')"
MERGEKIT = STATUS + "from mergekit.scripts.run_yaml import main; sys.argv[0] = 'mergekit-yaml'; main()"


def build_models(workdir: Path, size: str) -> list[Path]:
    """base, tune-1..3 (base plus small seeded noise) with a Llama config; reused when present."""
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig

    hidden, inter, layers, vocab = SIZES[size]
    root = workdir / size
    paths = [root / name for name in ("base", "tune-1", "tune-2", "tune-3")]
    if all((p / "model.safetensors").is_file() for p in paths):
        return paths
    config = LlamaConfig(
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        vocab_size=vocab,
        num_attention_heads=hidden // 64,
        tie_word_embeddings=False,
        architectures=["LlamaForCausalLM"],
    )
    generator = torch.Generator().manual_seed(0)
    base = {
        name: torch.randn(shape, generator=generator) * 0.02 for name, shape in llama_shapes(config).items()
    }
    for n, path in enumerate(paths):
        path.mkdir(parents=True, exist_ok=True)
        config.save_pretrained(path)
        state = (
            base
            if n == 0
            else {k: v + torch.randn(v.shape, generator=generator) * 0.002 for k, v in base.items()}
        )
        save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    return paths


def llama_shapes(config) -> dict[str, tuple[int, ...]]:
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (v, h),
        "model.norm.weight": (h,),
        "lm_head.weight": (v, h),
    }
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        shapes |= {f"{p}self_attn.{n}_proj.weight": (h, h) for n in "qkvo"}
        shapes |= {
            f"{p}mlp.gate_proj.weight": (i, h),
            f"{p}mlp.up_proj.weight": (i, h),
            f"{p}mlp.down_proj.weight": (h, i),
        }
        shapes |= {f"{p}input_layernorm.weight": (h,), f"{p}post_attention_layernorm.weight": (h,)}
    return shapes


def hone_spec(method: str, paths: list[Path], out: Path) -> dict:
    name, params, needs_base, weights = METHODS[method][0]
    tunes = paths[1 : 1 + len(weights or paths[1:])] if method != "slerp" else [paths[0], paths[1]]
    models = [
        {"name": p.name, "path": str(p), **({"weight": w} if weights else {})}
        for p, w in zip(tunes, weights or [None] * len(tunes), strict=True)
    ]
    spec = {
        "kind": "merge",
        "job_id": 1,
        "attempt": 1,
        "method": name,
        "models": models,
        "params": params,
        "output_dir": str(out),
        "dtype": "float32",
    }
    if needs_base:
        spec["base_model"] = {"name": "base", "path": str(paths[0])}
    return spec


def mergekit_config(method: str, paths: list[Path]) -> dict:
    _, params, needs_base, weights = METHODS[method][0]
    name, per_model, *shared = METHODS[method][1]
    if method == "slerp":
        return {
            "merge_method": "slerp",
            "base_model": str(paths[0]),
            "dtype": "float32",
            "models": [{"model": str(paths[0])}, {"model": str(paths[1])}],
            "parameters": {"t": params["t"]},
        }
    given = weights or [None] * len(paths[1:])
    models = [
        {"model": str(p), "parameters": {**({"weight": w} if w is not None else {}), **per_model}}
        for p, w in zip(paths[1 : 1 + len(given)], given, strict=True)
    ]
    return {
        "merge_method": name,
        "models": models,
        "dtype": "float32",
        **({"base_model": str(paths[0])} if needs_base else {}),
        **({"parameters": shared[0]} if shared else {}),
    }


@dataclass
class Result:
    seconds: float
    cpu_seconds: float
    peak_mib: float


def timed(command: list[str], status: Path, threads: int) -> Result:
    """Run one merge; CPU time from this process's children's usage, peak from the child's VmHWM."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    os.sync()  # the previous run's (or the model build's) writes must not slow this one down
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:2])} failed ({result.returncode}):\n{result.stderr.decode()[-3000:]}"
        )
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Result(seconds, cpu, int(fields["VmHWM"].split()[0]) / 1024)


def run_hone(method: str, paths: list[Path], work: Path, threads: int) -> Result:
    out = work / "hone-out"
    spec = work / "hone-spec.json"
    spec.write_text(json.dumps(hone_spec(method, paths, out)))
    status = work / "hone-status"
    return timed([sys.executable, "-c", HONE, str(status), "run", str(spec)], status, threads)


def run_mergekit(method: str, paths: list[Path], work: Path, threads: int) -> Result:
    config = work / "mergekit.yml"
    config.write_text(json.dumps(mergekit_config(method, paths)))  # YAML reads JSON
    status = work / "mergekit-status"
    command = [
        sys.executable,
        "-c",
        MERGEKIT,
        str(status),
        str(config),
        str(work / "mergekit-out"),
        "--quiet",
        "--no-copy-tokenizer",
    ]
    return timed(command, status, threads)


def compare_outputs(work: Path) -> tuple[float, float]:
    """Largest absolute difference, and the share of entries differing by more than 1e-6."""
    from safetensors import safe_open

    worst, differing, total = 0.0, 0, 0
    with safe_open(work / "mergekit-out" / "model.safetensors", framework="pt") as theirs:
        index = work / "hone-out" / "model.safetensors.index.json"
        files = (
            sorted(set(json.loads(index.read_text())["weight_map"].values()))
            if index.is_file()
            else ["model.safetensors"]
        )
        for name in files:
            with safe_open(work / "hone-out" / name, framework="pt") as ours:
                for key in ours.keys():  # noqa: SIM118 (safe_open is not a dict)
                    diff = (ours.get_tensor(key) - theirs.get_tensor(key)).abs()
                    worst = max(worst, float(diff.max()))
                    differing += int((diff > 1e-6).sum())
                    total += diff.numel()
    return worst, differing / total


def median(results: list[Result], field: str) -> float:
    return statistics.median(getattr(r, field) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=SIZES, default="medium")
    parser.add_argument("--methods", default="linear,ties")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for both tools")
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "bench" / "merge")
    args = parser.parse_args()
    paths = build_models(args.workdir, args.size)
    model_mib = (paths[1] / "model.safetensors").stat().st_size / 2**20
    print(
        f"{args.size}: {model_mib:.0f} MiB per model (fp32), {args.runs} runs, OMP_NUM_THREADS={args.threads}"
    )
    print(
        "method | hone s | mergekit s | speed-up | hone CPU s | mergekit CPU s | hone peak MiB | "
        "mergekit peak MiB | memory ratio | max |diff| | entries differing"
    )
    for method in args.methods.split(","):
        work = args.workdir / "runs" / method
        work.mkdir(parents=True, exist_ok=True)
        hone, mergekit = [], []
        for run in range(args.runs):  # interleaved, alternating who goes first
            order = [(hone, run_hone), (mergekit, run_mergekit)]
            for results, runner in order if run % 2 == 0 else order[::-1]:
                results.append(runner(method, paths, work, args.threads))
        worst, share = compare_outputs(work)
        h, m = median(hone, "seconds"), median(mergekit, "seconds")
        hc, mc = median(hone, "cpu_seconds"), median(mergekit, "cpu_seconds")
        hp, mp = median(hone, "peak_mib"), median(mergekit, "peak_mib")
        row = [
            method,
            f"{h:.1f}",
            f"{m:.1f}",
            f"{m / h:.2f}x",
            f"{hc:.1f}",
            f"{mc:.1f}",
            f"{hp:.0f}",
            f"{mp:.0f}",
        ]
        print(" | ".join([*row, f"{hp / mp:.2f}", f"{worst:.1e}", f"{share:.2e}"]), flush=True)


if __name__ == "__main__":
    main()
